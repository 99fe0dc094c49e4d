package service

import (
	"context"
	"errors"
	"strings"
	"time"

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
	// 2. Tasks whose agent is lost are given up on; the next pass replaces them.
	lost, wake := c.lostTasks(sc, r.Cluster, tasks, now)
	if len(lost) > 0 {
		return now, c.stopLostTasks(ctx, sc, o, r, lost)
	}
	// 3. What to do.
	if r.External() {
		return c.reconcileTaskSets(ctx, sc, cl, o, r, tasks, now, wake)
	}
	p := r.Primary()
	canLaunch := r.Status == state.StatusActive && p != nil && p.RolloutState != state.RolloutFailed && !p.Stopped
	if r.NextLaunchAt != nil && now.Before(*r.NextLaunchAt) {
		canLaunch, wake = false, earliest(wake, *r.NextLaunchAt)
	}
	in, graceEnds := c.rolloutTasks(sc, r, tasks, now)
	wake = earliest(wake, graceEnds)
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
			return earliest(wake, at), nil
		}
		return wake, c.startServiceTasks(ctx, sc, cl, o, r, p, plan)
	}
	if len(plan.Stop) > 0 {
		return wake, c.stopServiceTasks(ctx, o, r, tasks, plan.Stop, primaryID)
	}
	return wake, nil
}

// account brings the service record up to date with its tasks: stopped
// tasks counted (failed ones feed the circuit breaker and the back-off),
// deployments that have no tasks left retired, a completed rollout and a
// steady state reported. It returns the stopped tasks it counted.
func (c *Controller) account(sc state.Scope, r *state.Service, tasks []state.ServiceTask, daemon []rollout.DaemonInstance, now time.Time) ([]state.ServiceTask, bool) {
	changed := false
	var seen []state.ServiceTask
	for _, st := range tasks {
		t := st.Rec
		if t.LastStatus != "STOPPED" || t.ServiceSeen || len(seen) == maxTasksPerWrite {
			continue
		}
		seen = append(seen, st)
		changed = true
		if !state.TaskFailed(t) {
			continue
		}
		if d := r.DeploymentByID(t.StartedBy); d != nil {
			d.FailedTasks++
			d.UpdatedAt = now
		}
		r.LaunchFailures++
		if wait := launchBackoff(r.LaunchFailures); wait > 0 {
			at := now.Add(wait)
			r.NextLaunchAt = &at
			if r.LaunchFailures == backoffAfter+1 {
				r.AddEvent(now, "(service %s) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", r.Name)
			}
		}
	}
	if r.SchedulingStrategy == state.SchedulingDaemon && r.Status == state.StatusActive {
		eligible := 0
		for _, inst := range daemon {
			if inst.Eligible {
				eligible++
			}
		}
		if eligible != r.DaemonDesired {
			r.DaemonDesired, changed = eligible, true
		}
	}
	p := r.Primary()
	// The circuit breaker.
	if p != nil && p.RolloutState == state.RolloutInProgress && r.CircuitBreaker() && p.FailedTasks >= state.FailureThreshold(r.Desired()) {
		c.tripCircuitBreaker(sc, r, p, now)
		return seen, true
	}
	// Deployments with nothing left are done with.
	live := map[string]int{}
	for _, st := range tasks {
		if st.Rec.LastStatus != "STOPPED" {
			live[st.Rec.StartedBy]++
		}
	}
	for i := len(r.Deployments) - 1; i >= 0; i-- {
		if d := r.Deployments[i]; d.Status != state.DeploymentPrimary && live[d.ID] == 0 {
			r.Retire(d.ID, now)
			changed = true
		}
	}
	// Deleted and empty: the service is gone.
	if r.Status == state.StatusDraining && len(live) == 0 {
		r.Status = state.StatusInactive
		for len(r.Deployments) > 0 {
			r.Retire(r.Deployments[0].ID, now)
		}
		r.TaskSets = nil
		return seen, true
	}
	var steady bool
	if r.External() {
		var setsChanged bool
		steady, setsChanged = c.accountTaskSets(r, tasks, now)
		changed = changed || setsChanged
	} else {
		// A rollout completes when the primary alone runs, all of it healthy.
		steady = p != nil && len(r.Deployments) == 1 && c.settled(r, p, tasks)
	}
	if steady && p != nil && p.RolloutState == state.RolloutInProgress {
		p.RolloutState, p.RolloutStateReason, p.UpdatedAt = state.RolloutCompleted, "ECS deployment "+p.ID+" completed.", now
		p.FinishedAt = &now
		r.AddEvent(now, "(service %s) (deployment %s) deployment completed.", r.Name, p.ID)
		changed = true
	}
	switch {
	case steady && (r.SteadyAt == nil || now.Sub(*r.SteadyAt) >= steadyStateReminder):
		r.SteadyAt = &now
		r.LaunchFailures, r.NextLaunchAt = 0, nil
		r.AddEvent(now, "(service %s) has reached a steady state.", r.Name)
		changed = true
	case !steady && r.SteadyAt != nil:
		r.SteadyAt = nil
		changed = true
	}
	return seen, changed
}

// settled: the primary has exactly its desired tasks, every one healthy,
// and nothing else of the service is left.
func (c *Controller) settled(r *state.Service, p *state.Deployment, tasks []state.ServiceTask) bool {
	healthy := 0
	for _, st := range tasks {
		t := st.Rec
		if t.LastStatus == "STOPPED" {
			continue
		}
		if t.StartedBy != p.ID || !t.Live() || !state.TaskHealthy(t) {
			return false
		}
		healthy++
	}
	return healthy == r.Desired()
}

// backoffAfter failed tasks in a row, a service waits before launching
// again, doubling up to maxLaunchBackoff: a broken image never becomes a
// hot loop.
const backoffAfter = 3

func launchBackoff(failures int) time.Duration {
	if failures <= backoffAfter {
		return 0
	}
	wait := 5 * time.Second << min(failures-backoffAfter-1, 10)
	return min(wait, maxLaunchBackoff)
}

// tripCircuitBreaker fails the primary deployment and, with rollback,
// deploys the last one that completed again.
func (c *Controller) tripCircuitBreaker(sc state.Scope, r *state.Service, p *state.Deployment, now time.Time) {
	p.RolloutState, p.UpdatedAt = state.RolloutFailed, now
	p.RolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
	p.FinishedAt = &now
	r.AddEvent(now, "(service %s) (deployment %s) deployment failed: tasks failed to start.", r.Name, p.ID)
	cb := r.DeploymentConfiguration.DeploymentCircuitBreaker
	if ecs.Val(cb.Rollback) {
		r.RollBack(sc, p, "ECS deployment circuit breaker: rolling back to deploymentId %s.", now)
	}
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

// writeService writes the service record, and marks the stopped tasks it
// has counted, guarded by the revision it was read at.
func (c *Controller) writeService(ctx context.Context, o *store.Object, r *state.Service, seen []state.ServiceTask) error {
	ops := []store.Op{store.Put(o.Key, r, o.Rev)}
	for _, st := range seen {
		t := *st.Rec
		t.ServiceSeen = true
		ops = append(ops, store.Put(st.Obj.Key, &t, st.Obj.Rev))
	}
	_, err := c.store.Commit(ctx, ops...)
	if errors.Is(err, store.ErrConflict) {
		return placement.ErrStale
	}
	return err
}

// startServiceTasks places the plan's new tasks. The service record, with
// the events saying what was started or why nothing could be, is written
// in the placement's own transaction.
func (c *Controller) startServiceTasks(ctx context.Context, sc state.Scope, cl *state.Cluster, o *store.Object, r *state.Service, p *state.Deployment, plan rollout.Plan) error {
	l, err := c.placer.ServiceLaunch(sc, cl, r, p)
	if err != nil {
		return err
	}
	now := c.now().UTC()
	record := func(tasks []*state.Task, failures []ecs.Failure) any {
		cp, err := state.DecodeCopy[state.Service](c.state, o)
		if err != nil {
			return r
		}
		if len(tasks) > 0 {
			cp.AddEvent(now, "(service %s) has started %d tasks: %s.", cp.Name, len(tasks), taskList(tasks))
		}
		if len(tasks) < len(plan.On)+plan.Start {
			cp.AddUnplaceableEvent(now, failures, "")
		}
		return cp
	}
	req := &placement.Request{Scope: sc, Launch: l, Write: &placement.RecordWrite{Key: o.Key, Rev: o.Rev, Record: record}}
	if len(plan.On) > 0 {
		req.Only = []*placement.Instance{}
		for _, id := range plan.On[:min(len(plan.On), maxTasksPerWrite)] {
			io, inst, err := c.state.Instance(sc, cl.Name, id)
			if err != nil {
				return err
			}
			if inst != nil {
				req.Only = append(req.Only, &placement.Instance{Obj: io, Rec: inst})
			}
		}
		req.Count = len(req.Only)
	} else {
		req.Count = min(plan.Start, maxTasksPerWrite)
		req.Parts = l.Split(req.Count)
	}
	err = c.placer.Place(ctx, req)
	switch {
	case errors.Is(err, placement.ErrNoInstances):
		// Nothing could be tried (no instances at all): say so, once.
		err = c.serviceEvent(ctx, o, r, func(cp *state.Service) bool {
			return cp.AddUnplaceableEvent(now, nil, placement.ErrNoInstances.Error())
		})
		c.instants[o.Key] = now.Add(placeRetry)
		return err
	case err != nil:
		return err
	}
	if len(req.Tasks) < req.Count {
		c.instants[o.Key] = now.Add(placeRetry)
	}
	return req.Err
}

// serviceEvent writes an event (or any small change) to the service record.
func (c *Controller) serviceEvent(ctx context.Context, o *store.Object, r *state.Service, change func(*state.Service) bool) error {
	cp, err := state.DecodeCopy[state.Service](c.state, o)
	if err != nil {
		return err
	}
	if !change(cp) {
		return nil
	}
	return c.writeService(ctx, o, cp, nil)
}

func taskList(tasks []*state.Task) string {
	parts := make([]string, len(tasks))
	for i, t := range tasks {
		parts[i] = "(task " + t.ID + ")"
	}
	return strings.Join(parts, " ")
}

// stopServiceTasks tells the plan's tasks to stop, with the service's
// event, in one transaction.
func (c *Controller) stopServiceTasks(ctx context.Context, o *store.Object, r *state.Service, tasks []state.ServiceTask, stops []rollout.Stop, primary string) error {
	byID := map[string]state.ServiceTask{}
	for _, st := range tasks {
		byID[st.Rec.ID] = st
	}
	now := c.now().UTC()
	cp, err := state.DecodeCopy[state.Service](c.state, o)
	if err != nil {
		return err
	}
	var ops []store.Op
	var stopped []*state.Task
	for _, st := range stops[:min(len(stops), maxTasksPerWrite)] {
		cur, ok := byID[st.ID]
		if !ok {
			continue
		}
		t := *cur.Rec
		t.DesiredStatus, t.StoppingAt = "STOPPED", &now
		if t.LastStatus == "RUNNING" {
			t.LastStatus = "STOPPING"
		}
		t.StopCode = string(ecs.TaskStopCodeServiceSchedulerInitiated)
		t.StoppedReason = reasonScaling(primary)
		if st.Why == rollout.Unhealthy {
			t.StoppedReason = state.ReasonUnhealthy
			cp.AddEvent(now, "(service %s) (task %s) failed container health checks.", cp.Name, t.ID)
		}
		t.Version++
		ops = append(ops, store.Put(cur.Obj.Key, &t, cur.Obj.Rev))
		stopped = append(stopped, &t)
	}
	if len(stopped) == 0 {
		return nil
	}
	return c.commitStops(ctx, o, cp, stopped, ops, now)
}

// commitStops writes stopped tasks (ops) with the service record cp and
// its event saying what was stopped, guarded by the revisions read.
func (c *Controller) commitStops(ctx context.Context, o *store.Object, cp *state.Service, stopped []*state.Task, ops []store.Op, now time.Time) error {
	cp.AddEvent(now, "(service %s) has stopped %d running tasks: %s.", cp.Name, len(stopped), taskList(stopped))
	ops = append(ops, store.Put(o.Key, cp, o.Rev))
	_, err := c.store.Commit(ctx, ops...)
	if errors.Is(err, store.ErrConflict) {
		return placement.ErrStale
	}
	return err
}
