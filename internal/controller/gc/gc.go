// Package gc is Berth's garbage collector: a level-triggered controller,
// run on the elected leader only, that owns deleting the records ECS stops
// showing some time after they are done with, in every account and region:
//
//   - tasks STOPPED for StoppedTaskRetention,
//   - services INACTIVE (deleted, and their tasks stopped) for
//     InactiveServiceRetention,
//   - container instances INACTIVE (deregistered) for
//     InactiveInstanceRetention.
//
// Until then they stay describable, as in ECS; nothing else in Berth
// deletes them. Each delete is guarded by the revision the collector saw,
// so a record that changed meanwhile (a service name used again, say) is
// left for the next pass to judge. It keeps indexes of the records it may
// collect, so a pass reads those only, not every task of every account.
package gc

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/controller"

	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// Retentions: how long a record stays describable after it is done with.
const (
	// StoppedTaskRetention: ECS keeps stopped tasks describable for at
	// least an hour.
	StoppedTaskRetention = time.Hour
	// InactiveServiceRetention counts from the moment the service became
	// INACTIVE. ECS documents no figure ("INACTIVE services may be cleaned
	// up and purged"); an hour is as long as its tasks, which all stopped
	// by then, stay, and ample for the tools that poll DescribeServices
	// until a deleted service reads INACTIVE.
	InactiveServiceRetention = time.Hour
	// InactiveInstanceRetention: ECS documents that a deregistered
	// container instance can be described for an hour.
	InactiveInstanceRetention = time.Hour
)

// retryAfter is when a pass that could not delete (etcd unreachable, say)
// tries again, though nothing changes.
const retryAfter = 5 * time.Second

// collectable is the group of each index that holds the candidates.
const collectable = "collectable"

// rule is what the collector deletes of one kind of record.
type rule struct {
	kind  string // for the log
	keep  time.Duration
	index *store.Index
	// since answers when the record's retention began, and false for a
	// record that is not to be collected at all.
	since func(*store.Object) (time.Time, bool)
}

// Controller is the garbage collector. What it keeps in memory is only
// what lets a pass be skipped: losing it costs one pass.
type Controller struct {
	store *store.Store
	now   func() time.Time
	log   *slog.Logger
	rules []rule

	mu       sync.Mutex // one pass at a time
	versions []uint64   // of the indexes' candidates, as the last full pass read them
	due      time.Time  // when the earliest candidate the last full pass kept falls due
}

// Options are the settings of a Controller; the zero value is usable.
type Options struct {
	Now func() time.Time // the clock; time.Now when nil
	Log *slog.Logger
}

// New returns the garbage collector on st. It indexes st's store, so it is
// made before the store serves traffic, like state.New.
func New(st *state.State, opts Options) *Controller {
	c := &Controller{store: st.Store(), now: opts.Now, log: opts.Log}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	add := func(kind, storeKind string, keep time.Duration, since func(*store.Object) (time.Time, bool)) {
		ix := c.store.AddIndex(state.Root+storeKind+"/", func(o *store.Object) string {
			if _, ok := since(o); ok {
				return collectable
			}
			return ""
		})
		c.rules = append(c.rules, rule{kind: kind, keep: keep, index: ix, since: since})
	}
	add("tasks", state.KindTask, StoppedTaskRetention, stoppedTask)
	add("services", state.KindService, InactiveServiceRetention, inactiveService)
	add("instances", state.KindInstance, InactiveInstanceRetention, inactiveInstance)
	return c
}

// stoppedTask: a task's retention begins when it stopped.
func stoppedTask(o *store.Object) (time.Time, bool) {
	t, err := store.Decode[state.Task](o)
	if err != nil || t.LastStatus != "STOPPED" || t.StoppedAt == nil {
		return time.Time{}, false
	}
	return *t.StoppedAt, true
}

// inactiveService: a service's retention begins when it became INACTIVE;
// for a record written before that was kept, when it was deleted.
func inactiveService(o *store.Object) (time.Time, bool) {
	r, err := store.Decode[state.Service](o)
	if err != nil || r.Status != state.StatusInactive {
		return time.Time{}, false
	}
	switch {
	case r.InactiveAt != nil:
		return *r.InactiveAt, true
	case r.DeletedAt != nil:
		return *r.DeletedAt, true
	}
	return time.Time{}, false
}

// inactiveInstance: an instance's retention begins when it was
// deregistered.
func inactiveInstance(o *store.Object) (time.Time, bool) {
	r, err := store.Decode[state.Instance](o)
	if err != nil || r.Status != state.StatusInactive || r.DeregisteredAt == nil {
		return time.Time{}, false
	}
	return *r.DeregisteredAt, true
}

// Reconcile makes one pass: it deletes every record whose retention has
// passed and returns when the next one falls due (zero: none is waiting).
// A pass that finds its candidates as the last one left them, and nothing
// due yet, reads nothing.
func (c *Controller) Reconcile(ctx context.Context) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	versions := make([]uint64, len(c.rules))
	for i, r := range c.rules {
		versions[i] = r.index.Version(collectable)
	}
	if slices.Equal(versions, c.versions) && (c.due.IsZero() || now.Before(c.due)) {
		return until(c.due, now)
	}
	var due time.Time
	for _, r := range c.rules {
		n := 0
		for _, o := range r.index.ListUnordered(collectable) {
			since, ok := r.since(o)
			if !ok {
				continue
			}
			if at := since.Add(r.keep); now.Before(at) {
				due = controller.Earliest(due, at)
				continue
			}
			switch err := c.collect(ctx, o); {
			case err == nil:
				n++
			case errors.Is(err, store.ErrConflict):
				// It changed since it was read: the change wakes the next
				// pass, which judges it as it is now.
			case ctx.Err() != nil:
				return 0
			default:
				c.log.Warn("garbage collection: delete failed", "key", o.Key, "err", err)
				due = controller.Earliest(due, now.Add(retryAfter))
			}
		}
		if n > 0 {
			c.log.Debug("garbage collected", "kind", r.kind, "count", n)
		}
	}
	// The versions read before the pass: anything that changed during it
	// makes the next pass a full one.
	c.versions, c.due = versions, due
	return until(due, now)
}

// collect deletes the record if it is still as o shows it: a record
// written since (a service created again under the name, tags added) is
// not the one judged collectable.
func (c *Controller) collect(ctx context.Context, o *store.Object) error {
	_, err := c.store.Commit(ctx, store.Delete(o.Key, o.Rev))
	return err
}

// until is how long from now until t: zero for no t, at least a
// millisecond for a t that has come.
func until(t, now time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return max(t.Sub(now), time.Millisecond)
}
