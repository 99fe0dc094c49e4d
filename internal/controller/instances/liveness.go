package instances

import (
	"context"
	"time"

	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// markDisconnected records that the instance's agent is gone: its record
// says connected, but no live server vouches for that session any more
// (lo is its liveness key as read, nil when absent).
//
// The write is guarded by the record's revision and by the liveness key
// staying as it was read. An agent that connects again meanwhile, through
// any server, writes its record and its key in one transaction: either
// that write comes first and this one conflicts, or this one comes first
// and the connect, guarded by the record's revision too, retries on the
// disconnected record and wins. Either way the newer session stands.
func (c *Controller) markDisconnected(ctx context.Context, sc state.Scope, o *store.Object, inst *state.Instance, lo *store.Object, now time.Time) error {
	cp := *inst
	at := now.UTC()
	cp.AgentConnected = false
	cp.AgentDisconnectedAt = &at
	cp.AgentSession = ""
	cp.Version++
	guard := store.Check(sc.AgentKey(inst.Cluster, inst.ID), 0)
	if lo != nil {
		guard = store.Check(lo.Key, lo.Rev)
	}
	if _, err := c.store.Commit(ctx, store.Put(o.Key, &cp, o.Rev), guard); err != nil {
		return err
	}
	c.log.Info("agent no longer live: marked disconnected", "instance", inst.ARN, "session", inst.AgentSession)
	return nil
}
