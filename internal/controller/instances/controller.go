// Package instances is the health of container instances: a level-triggered
// controller, run on the elected leader only, that owns two decisions about
// every container instance of every account.
//
//   - Whether its agent is still connected. The server holding an agent's
//     ACS session keeps a liveness key for the instance on an etcd lease
//     (see state.AgentLiveness); an instance whose record says connected
//     but whose key is gone, or names another session, lost its server (a
//     crash, a partition) and is marked disconnected here.
//   - Whether its tasks are lost. Every task not yet STOPPED on an instance
//     whose agent has been disconnected for longer than AgentLostAfter, or
//     that was deregistered (or is gone), is recorded STOPPED with its
//     resources given back, whoever started it. A service's scheduler then
//     replaces its tasks because they are STOPPED; it knows nothing of
//     agents.
//
// Every write is guarded by the revisions the decision was made on (the
// instance record above all), so a decision on a state that is gone (an
// agent that connected again meanwhile, through any server) writes nothing.
package instances

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/controller"

	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// DefaultAgentLostAfter: ECS has no such setting (it learns of lost EC2
// instances from EC2); five minutes rides out an agent restart or upgrade.
const DefaultAgentLostAfter = 5 * time.Minute

// retryAfter is when an instance whose write failed (etcd unreachable, say)
// is looked at again, though nothing changes.
const retryAfter = time.Second

// maxTasksPerWrite bounds the tasks stopped in one transaction: with the
// instance and one service record each, it stays under etcd's default of
// 128 operations.
const maxTasksPerWrite = 50

// Controller is the instances controller. What it keeps in memory is only
// what lets it skip an instance: losing it costs one pass over everything.
type Controller struct {
	state          *state.State
	store          *store.Store
	now            func() time.Time
	log            *slog.Logger
	agentLostAfter time.Duration

	mu   sync.Mutex              // one pass at a time
	seen map[string]instanceSeen // by instance key
}

// Options are the settings of a Controller; the zero value is usable.
type Options struct {
	Now func() time.Time // the clock; time.Now when nil
	Log *slog.Logger
	// AgentLostAfter is how long an instance's agent may stay disconnected
	// before the tasks on it are recorded STOPPED; DefaultAgentLostAfter
	// when zero.
	AgentLostAfter time.Duration
}

// New returns the instances controller on st.
func New(st *state.State, opts Options) *Controller {
	c := &Controller{state: st, store: st.Store(), now: opts.Now, log: opts.Log, agentLostAfter: opts.AgentLostAfter,
		seen: map[string]instanceSeen{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.agentLostAfter <= 0 {
		c.agentLostAfter = DefaultAgentLostAfter
	}
	return c
}

// instanceSeen is what an instance's last look depended on: while none of
// it changes and its wake is not due, there is nothing to do for it.
type instanceSeen struct {
	rev, liveRev int64  // the record's and its liveness key's (0: absent)
	tasks        uint64 // the version of its group of TasksByInstance
	wake         time.Time
}

// Reconcile makes one pass over every container instance, and over tasks
// whose instance is gone. It returns when it next needs to run though
// nothing changes: the next instant an agent's disconnection turns into
// its tasks being lost (zero: only on change).
func (c *Controller) Reconcile(ctx context.Context) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var due time.Time
	keys := map[string]bool{}
	for _, o := range c.store.List(state.Root+state.KindInstance+"/", "", 0) {
		keys[o.Key] = true
		sc, cluster, id, ok := state.InstanceKeyParts(o.Key)
		if !ok {
			continue
		}
		// The liveness key is read after the record: see state.AgentLive.
		seen := instanceSeen{rev: o.Rev, tasks: c.state.TasksByInstance.Version(state.InstanceGroup(sc, cluster, id))}
		if lo, found := c.store.Get(sc.AgentKey(cluster, id)); found {
			seen.liveRev = lo.Rev
		}
		last, had := c.seen[o.Key]
		if had && last.rev == seen.rev && last.liveRev == seen.liveRev && last.tasks == seen.tasks && (last.wake.IsZero() || now.Before(last.wake)) {
			due = controller.Earliest(due, last.wake)
			continue
		}
		wake, err := c.reconcileInstance(ctx, sc, o, now)
		if err != nil {
			seen.rev = -1 // look again next pass
			if !errors.Is(err, store.ErrConflict) && ctx.Err() == nil {
				// A conflict is a change, which wakes the next pass itself.
				c.log.Warn("instances controller: pass failed", "instance", o.Key, "err", err)
				wake = controller.Earliest(wake, now.Add(retryAfter))
			}
		}
		seen.wake = wake
		c.seen[o.Key] = seen
		due = controller.Earliest(due, wake)
	}
	for k := range c.seen {
		if !keys[k] {
			delete(c.seen, k)
		}
	}
	if err := c.stopOrphans(ctx, now); err != nil && !errors.Is(err, store.ErrConflict) && ctx.Err() == nil {
		c.log.Warn("instances controller: stopping the tasks of instances that are gone failed", "err", err)
		due = controller.Earliest(due, now.Add(retryAfter))
	}
	if due.IsZero() {
		return 0
	}
	return max(due.Sub(now), time.Millisecond)
}

// reconcileInstance makes one step for one instance: its agent marked
// disconnected, or its lost tasks stopped, or nothing. It returns when the
// instance next needs a look even if nothing changes.
func (c *Controller) reconcileInstance(ctx context.Context, sc state.Scope, o *store.Object, now time.Time) (time.Time, error) {
	inst, err := state.Decode[state.Instance](c.state, o)
	if err != nil {
		return time.Time{}, nil // logged by Decode; nothing to decide on
	}
	if inst.Status != state.StatusInactive && inst.AgentConnected {
		if lo, alive := c.state.AgentLive(sc, inst); !alive {
			return time.Time{}, c.markDisconnected(ctx, sc, o, inst, lo, now)
		}
		return time.Time{}, nil
	}
	reason, at := c.lostReason(inst, now)
	if reason == "" {
		return at, nil
	}
	tasks := c.state.TasksByInstance.List(state.InstanceGroup(sc, inst.Cluster, inst.ID))
	if len(tasks) == 0 {
		return time.Time{}, nil
	}
	return time.Time{}, c.stopLost(ctx, sc, inst.Cluster, o.Key, o, inst, tasks, reason, now)
}

// lostReason is the stoppedReason the instance's tasks get if they are
// lost now, or "" and the instant they will be (zero: not while nothing
// changes).
func (c *Controller) lostReason(inst *state.Instance, now time.Time) (string, time.Time) {
	switch {
	case inst.Status == state.StatusInactive:
		return state.ReasonInstanceDeregistered, time.Time{}
	case inst.AgentConnected || inst.AgentDisconnectedAt == nil:
		return "", time.Time{} // connected, or never was: nothing was placed there
	}
	at := inst.AgentDisconnectedAt.Add(c.agentLostAfter)
	if now.Before(at) {
		return "", at
	}
	return state.ReasonAgentLost(c.agentLostAfter), time.Time{}
}

// stopOrphans stops the tasks of instances whose record is gone (the
// garbage collector deletes deregistered instances in time): as for a
// deregistered instance, nothing will report their end.
func (c *Controller) stopOrphans(ctx context.Context, now time.Time) error {
	var first error
	for _, g := range c.state.TasksByInstance.Groups() {
		sc, cluster, id, ok := state.InstanceKeyParts(g)
		if !ok || id == "" {
			continue
		}
		key := sc.Key(state.KindInstance, cluster, id)
		// Looked up now, not from the pass's listing: an instance
		// registered since then is not gone. Instance ids are never used
		// again, so one absent now stays absent.
		if _, found := c.store.Get(key); found {
			continue
		}
		tasks := c.state.TasksByInstance.List(g)
		if len(tasks) == 0 {
			continue
		}
		if err := c.stopLost(ctx, sc, cluster, key, nil, nil, tasks, state.ReasonInstanceDeregistered, now); err != nil && first == nil {
			first = err
		}
	}
	return first
}
