package service

import (
	"context"
	"time"

	"github.com/berth-project/berth/internal/controller"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/rollout"
	"github.com/berth-project/berth/internal/store"
)

// The service scheduler's side of task sets (tasksets.go). A service of the
// EXTERNAL deployment controller has no deployments: each of its task sets
// is kept at its computed desired count on its own, replacing stopped and
// unhealthy tasks and moving tasks off DRAINING instances within the
// service's deploymentConfiguration, as a deployment would be. What goes
// from one task set to another is the external controller's decision.

// reconcileTaskSets makes one step for an EXTERNAL service: the first task
// set (primary first) that has something to start or stop gets one write.
// wake is when the service needs a look again though nothing changes.
func (c *Controller) reconcileTaskSets(ctx context.Context, sc state.Scope, cl *state.Cluster, o *store.Object, r *state.Service, tasks []state.ServiceTask, now, wake time.Time) (time.Time, error) {
	canLaunch := r.Status == state.StatusActive
	if r.NextLaunchAt != nil && now.Before(*r.NextLaunchAt) {
		canLaunch, wake = false, controller.Earliest(wake, *r.NextLaunchAt)
	}
	in, graceEnds := c.rolloutTasks(sc, r, tasks, now)
	wake = controller.Earliest(wake, graceEnds)
	dc := r.DeploymentConfiguration
	for _, ts := range r.TaskSetsPrimaryFirst() {
		var mine []rollout.Task
		for _, t := range in {
			if t.Deployment == ts.ID {
				mine = append(mine, t)
			}
		}
		plan := rollout.PlanReplica(rollout.Replica{Desired: ts.ComputedDesired(r), MinimumHealthyPercent: int(ecs.Val(dc.MinimumHealthyPercent)),
			MaximumPercent: int(ecs.Val(dc.MaximumPercent)), Primary: ts.ID, CanLaunch: canLaunch && ts.Status != state.TaskSetDraining, Tasks: mine})
		if plan.Start > 0 {
			if at, wait := c.placementDeferred(o.Key, now); wait {
				return controller.Earliest(wake, at), nil
			}
			return wake, c.startServiceTasks(ctx, sc, cl, o, r, ts.AsDeployment(r), plan)
		}
		if len(plan.Stop) > 0 {
			return wake, c.stopServiceTasks(ctx, o, r, tasks, plan.Stop, ts.ID)
		}
	}
	return wake, nil
}

// accountTaskSets is the bookkeeping for an EXTERNAL service: each task
// set's stability brought up to date, and DRAINING task sets with no tasks
// left removed. (A task set is removed only once none of its tasks is
// left, so every task of the service belongs to one.) It reports whether
// the whole service is steady and whether the record changed.
func (c *Controller) accountTaskSets(r *state.Service, tasks []state.ServiceTask, now time.Time) (steady, changed bool) {
	type tally struct{ healthy, other int }
	bySet := map[string]*tally{}
	for _, st := range tasks {
		t := st.Rec
		if t.LastStatus == "STOPPED" {
			continue
		}
		c := bySet[t.StartedBy]
		if c == nil {
			c = &tally{}
			bySet[t.StartedBy] = c
		}
		if t.Live() && state.TaskHealthy(t) {
			c.healthy++
		} else {
			c.other++
		}
	}
	kept := r.TaskSets[:0:0]
	steady = len(r.TaskSets) > 0
	for _, ts := range r.TaskSets {
		c := bySet[ts.ID]
		if c == nil {
			c = &tally{}
		}
		if ts.Status == state.TaskSetDraining && c.healthy+c.other == 0 {
			changed = true // deleted, and its tasks are gone
			continue
		}
		status := string(ecs.StabilityStatusStabilizing)
		if c.other == 0 && c.healthy == ts.ComputedDesired(r) {
			status = string(ecs.StabilityStatusSteadyState)
		}
		if status != ts.StabilityStatus {
			ts.StabilityStatus, ts.StabilityStatusAt, ts.UpdatedAt = status, now, now
			changed = true
		}
		steady = steady && status == string(ecs.StabilityStatusSteadyState)
		kept = append(kept, ts)
	}
	r.TaskSets = kept
	return steady, changed
}

// placementDeferred: after a placement that could not place everything,
// the service waits placeRetry before trying again, unless the cluster
// changes. It says until when.
func (c *Controller) placementDeferred(key string, now time.Time) (time.Time, bool) {
	if at, ok := c.instants[key]; ok && now.Before(at) {
		return at, true
	}
	delete(c.instants, key)
	return time.Time{}, false
}
