package service

import (
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/internal/rollout"
)

// Bookkeeping: what happened to a service since its last pass.

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
		r.Status, r.InactiveAt = state.StatusInactive, &now
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
