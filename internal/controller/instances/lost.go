package instances

import (
	"context"
	"time"

	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// stopLost records up to maxTasksPerWrite of an instance's lost tasks
// STOPPED with reason, their resources given back to the instance, and an
// event on each service they belong to, in one transaction guarded by the
// revisions read: the tasks', the instance's (o; nil when the instance is
// gone, and then its key must stay absent) and the services'. The rest, if
// any, are the next pass's: this write wakes it.
func (c *Controller) stopLost(ctx context.Context, sc state.Scope, cluster, instanceKey string, o *store.Object, inst *state.Instance,
	tasks []*store.Object, reason string, now time.Time) error {
	now = now.UTC()
	var cp state.Instance
	if inst != nil {
		cp = *inst
	}
	released := false
	var ops []store.Op
	var stopped int
	byService := map[string][]*state.Task{}
	for _, to := range tasks[:min(len(tasks), maxTasksPerWrite)] {
		t, err := state.DecodeCopy[state.Task](c.state, to) // AdvanceTask changes its containers: a private copy
		if err != nil {
			return err
		}
		var ic state.InstanceChange
		if !state.StopLost(t, reason, now, &ic) {
			continue
		}
		t.Version++
		ops = append(ops, store.Put(to.Key, t, to.Rev))
		stopped++
		if ic.Release != nil && inst != nil {
			cp.RemainingResources = state.Adjusted(cp.RemainingResources, *ic.Release, -1)
			released = true
		}
		if t.ServiceName != "" {
			byService[t.ServiceName] = append(byService[t.ServiceName], t)
		}
	}
	if stopped == 0 {
		return nil
	}
	switch {
	case inst == nil:
		ops = append(ops, store.Check(instanceKey, 0))
	case released:
		cp.Version++
		ops = append(ops, store.Put(o.Key, &cp, o.Rev))
	default:
		ops = append(ops, store.Check(o.Key, o.Rev))
	}
	// Each service says what was stopped of it, as its scheduler does when
	// it stops tasks itself.
	for name, ts := range byService {
		so, r, err := c.state.Service(sc, cluster, name)
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		rc, err := state.DecodeCopy[state.Service](c.state, so)
		if err != nil {
			return err
		}
		rc.AddStoppedEvent(now, ts)
		ops = append(ops, store.Put(so.Key, rc, so.Rev))
	}
	if _, err := c.store.Commit(ctx, ops...); err != nil {
		return err
	}
	c.log.Info("lost tasks recorded STOPPED", "instance", instanceKey, "count", stopped, "reason", reason)
	return nil
}
