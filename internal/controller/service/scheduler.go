package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/controller"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/rollout"
	"github.com/berth-project/berth/internal/store"
)

// Each pass reads every service and its tasks from
// the view and makes at most one guarded write per service: counting tasks
// that stopped (the circuit breaker and the back-off feed on it), or the
// stops, or the starts that internal/rollout plans. Writes are guarded by
// the revision of the service record the decision was made on, so a pass
// working from an outdated view, or a second scheduler during a change of
// leader, writes nothing. It keeps no state of its own that matters: after
// a restart the next pass takes up from what is stored.

// Timing of the service scheduler, ECS's where ECS documents it.
const (
	steadyStateReminder = 6 * time.Hour    // ECS repeats "has reached a steady state" while it holds
	maxLaunchBackoff    = 15 * time.Minute // the longest wait between launches of a failing service
	placeRetry          = 5 * time.Second  // after a failed placement, unless the cluster changes
	maxTasksPerWrite    = 50               // starts or stops in one transaction (etcd's 128 operations)
)

func reasonScaling(deployment string) string {
	return "Scaling activity initiated by (deployment " + deployment + ")"
}

// serviceSeen is what a service's last pass looked at: while none of it
// changes and no timer is due, a pass has nothing to do for the service.
type serviceSeen struct {
	rev      int64
	tasksVer uint64
	instVer  int64
	wake     time.Time
}

// Reconcile makes one pass of the service scheduler over every service of
// every account. It returns when it next needs to run though nothing
// changes (zero: only on change).
func (c *Controller) Reconcile(ctx context.Context) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var next time.Time
	keys := map[string]bool{}
	for _, o := range c.store.List(state.Root+state.KindService+"/", "", 0) {
		keys[o.Key] = true
		sc, cluster, ok := serviceScope(o.Key)
		if !ok {
			continue
		}
		seen := serviceSeen{rev: o.Rev, instVer: c.store.Revision()}
		seen.tasksVer = c.state.TasksByService.Version(state.ServiceGroup(sc, cluster, o.Key[strings.LastIndex(o.Key, "/")+1:]))
		last, had := c.seen[o.Key]
		instancesChanged := c.instancesChangedSince(sc, cluster, last.instVer)
		if had && last.rev == seen.rev && last.tasksVer == seen.tasksVer && !instancesChanged && (last.wake.IsZero() || now.Before(last.wake)) {
			if !last.wake.IsZero() && (next.IsZero() || last.wake.Before(next)) {
				next = last.wake
			}
			continue
		}
		wake, err := c.reconcileService(ctx, sc, o)
		if err != nil && ctx.Err() == nil && !errors.Is(err, placement.ErrStale) {
			c.log.Warn("service scheduler pass failed", "service", o.Key, "err", err)
			wake = now.Add(time.Second)
		}
		if err != nil {
			seen.rev = -1 // look again next pass
		}
		seen.wake = wake
		c.seen[o.Key] = seen
		if !wake.IsZero() && (next.IsZero() || wake.Before(next)) {
			next = wake
		}
	}
	for k := range c.seen {
		if !keys[k] {
			delete(c.seen, k)
		}
	}
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now), time.Millisecond)
}

// instancesChangedSince: has any container instance of the cluster been
// written since revision rev? DAEMON services and placement depend on them.
func (c *Controller) instancesChangedSince(sc state.Scope, cluster string, rev int64) bool {
	for _, o := range c.store.List(sc.Prefix(state.KindInstance)+cluster+"/", "", 0) {
		if o.Rev > rev {
			return true
		}
	}
	return false
}

// serviceScope reads the scope and cluster out of a service's key.
func serviceScope(key string) (state.Scope, string, bool) {
	parts := strings.Split(strings.TrimPrefix(key, state.Root+state.KindService+"/"), "/")
	if len(parts) != 4 {
		return state.Scope{}, "", false
	}
	return state.Scope{Account: parts[0], Region: parts[1]}, parts[2], true
}

// reconcileService makes one step for one service. It returns when the
// service next needs a look even if nothing changes.
func (c *Controller) reconcileService(ctx context.Context, sc state.Scope, o *store.Object) (time.Time, error) {
	r, err := state.DecodeCopy[state.Service](c.state, o)
	if err != nil {
		return time.Time{}, err
	}
	if r.Status == state.StatusInactive {
		return time.Time{}, nil
	}
	now := c.now().UTC()
	tasks := c.state.ServiceTasks(sc, r.Cluster, r.Name)
	_, cl, err := c.state.Cluster(sc, r.Cluster)
	if err != nil || cl == nil {
		return time.Time{}, err
	}
	var daemon []rollout.DaemonInstance
	if r.SchedulingStrategy == state.SchedulingDaemon {
		if daemon, err = c.placer.DaemonInstances(sc, cl, r); err != nil {
			return time.Time{}, err
		}
	}
	// 1. Bookkeeping: what happened since the last pass.
	if seen, changed := c.account(sc, r, tasks, daemon, now); changed {
		return now, c.writeService(ctx, o, r, seen)
	}
	// 2. What to do. Tasks of a lost agent are STOPPED by the instances
	// controller (internal/controller/instances) and replaced here like any
	// other task that stopped.
	var wake time.Time
	if r.SteadyAt != nil {
		// A steady service is looked at again when its reminder is due,
		// though nothing changes: ECS repeats the steady-state event.
		wake = r.SteadyAt.Add(steadyStateReminder)
	}
	if r.External() {
		return c.reconcileTaskSets(ctx, sc, cl, o, r, tasks, now, wake)
	}
	p := r.Primary()
	canLaunch := r.Status == state.StatusActive && p != nil && p.RolloutState != state.RolloutFailed && !p.Stopped
	if r.NextLaunchAt != nil && now.Before(*r.NextLaunchAt) {
		canLaunch, wake = false, controller.Earliest(wake, *r.NextLaunchAt)
	}
	in, graceEnds := c.rolloutTasks(sc, r, tasks, now)
	wake = controller.Earliest(wake, graceEnds)
	primaryID := ""
	if p != nil {
		primaryID = p.ID
	}
	var plan rollout.Plan
	dc := r.DeploymentConfiguration
	if r.SchedulingStrategy == state.SchedulingDaemon {
		for i := range daemon {
			for _, t := range in {
				if t.Instance == daemon[i].ID {
					daemon[i].Tasks = append(daemon[i].Tasks, t)
				}
			}
			if r.Status != state.StatusActive {
				daemon[i].Eligible = false
			}
		}
		plan = rollout.PlanDaemon(rollout.Daemon{MinimumHealthyPercent: int(ecs.Val(dc.MinimumHealthyPercent)), Primary: primaryID, CanLaunch: canLaunch, Instances: daemon})
	} else {
		plan = rollout.PlanReplica(rollout.Replica{Desired: r.DesiredCount, MinimumHealthyPercent: int(ecs.Val(dc.MinimumHealthyPercent)),
			MaximumPercent: int(ecs.Val(dc.MaximumPercent)), Primary: primaryID, CanLaunch: canLaunch, Tasks: in})
	}
	// Starts first, so a rolling update gets going at once; the stops the
	// plan also holds are the next pass's (the same state plans them again).
	if plan.Start > 0 || len(plan.On) > 0 {
		if at, wait := c.placementDeferred(o.Key, now); wait {
			return controller.Earliest(wake, at), nil
		}
		return wake, c.startServiceTasks(ctx, sc, cl, o, r, p, plan)
	}
	stops, held := batchReplacements(plan.Stop, tasks, primaryID, now)
	wake = controller.Earliest(wake, held)
	if len(stops) > 0 {
		return wake, c.stopServiceTasks(ctx, o, r, tasks, stops, primaryID)
	}
	return wake, nil
}

// rolloutTasks turns the service's tasks into what the planner weighs, and
// says when the first health check grace period still running ends.
func (c *Controller) rolloutTasks(sc state.Scope, r *state.Service, tasks []state.ServiceTask, now time.Time) ([]rollout.Task, time.Time) {
	grace := time.Duration(ecs.Val(r.HealthCheckGracePeriodSeconds)) * time.Second
	var out []rollout.Task
	var graceEnds time.Time
	draining := map[string]bool{}
	for _, st := range tasks {
		t := st.Rec
		if t.LastStatus == "STOPPED" {
			continue
		}
		if _, ok := draining[t.InstanceID]; !ok {
			_, inst, _ := c.state.Instance(sc, r.Cluster, t.InstanceID)
			draining[t.InstanceID] = inst != nil && inst.Status == state.StatusDraining
		}
		rt := rollout.Task{ID: t.ID, Deployment: t.StartedBy, Instance: t.InstanceID, Healthy: state.TaskHealthy(t) && t.Live(),
			Draining: draining[t.InstanceID], Stopping: !t.Live(), Order: t.CreatedAt.UnixNano()}
		if t.Live() && t.LastStatus == "RUNNING" && t.HealthStatus == string(ecs.HealthStatusUnhealthy) {
			ends := t.CreatedAt
			if t.StartedAt != nil {
				ends = *t.StartedAt
			}
			ends = ends.Add(grace)
			if now.Before(ends) {
				if graceEnds.IsZero() || ends.Before(graceEnds) {
					graceEnds = ends
				}
			} else {
				rt.Unhealthy = true
			}
		}
		out = append(out, rt)
	}
	return out, graceEnds
}
