// Package rollout decides, for one service at one moment, which tasks to
// start and which to stop: ECS's service scheduler as pure arithmetic over
// the service's tasks. It keeps a rolling deployment within
// minimumHealthyPercent and maximumPercent, scales in and out, replaces
// unhealthy tasks and moves tasks off DRAINING instances. The caller reads
// the tasks from the store, applies the plan, and asks again; the same
// state always gives the same plan, so a restart in the middle of a
// deployment carries on where it was.
package rollout

import "sort"

// Task is one task of the service that its agent has not yet reported
// STOPPED.
type Task struct {
	ID         string
	Deployment string // the deployment that started it
	Instance   string // the container instance it is on
	Healthy    bool   // counts towards minimumHealthyPercent: RUNNING, and HEALTHY when it has health checks
	Unhealthy  bool   // failed its health checks after the grace period: to be replaced
	Draining   bool   // on a DRAINING instance: to be moved elsewhere
	Stopping   bool   // already told to stop; still counts towards maximumPercent until STOPPED
	Order      int64  // creation order, for choosing which tasks to stop first
}

// Why a task is stopped; the caller turns it into ECS's stoppedReason.
type Why int

const (
	ScaleIn    Why = iota // more tasks than desired
	Replaced              // belongs to an older deployment
	Unhealthy             // failed its health checks
	Draining              // its instance is DRAINING
	Ineligible            // DAEMON: the instance no longer takes the service's tasks
)

// Stop is one task to stop.
type Stop struct {
	ID  string
	Why Why
}

// Plan is what to do now.
type Plan struct {
	Start int      // REPLICA: tasks of the primary deployment to place
	On    []string // DAEMON: instances to start one primary task on
	Stop  []Stop
}

// Bounds are the deployment configuration's limits as task counts: ECS
// rounds maximumPercent down and minimumHealthyPercent up.
func Bounds(desired, minimumHealthyPercent, maximumPercent int) (minHealthy, maxTotal int) {
	minHealthy = (desired*minimumHealthyPercent + 99) / 100
	maxTotal = desired * maximumPercent / 100
	return minHealthy, maxTotal
}

// Replica is the state of a REPLICA service.
type Replica struct {
	Desired               int
	MinimumHealthyPercent int
	MaximumPercent        int
	Primary               string // the deployment new tasks belong to
	CanLaunch             bool   // false while backing off or after the primary failed
	Tasks                 []Task
}

// PlanReplica keeps desired tasks of the primary deployment running, and
// at every moment: at most maxTotal tasks (stopping ones included) and,
// while a deployment replaces tasks, at least minHealthy healthy ones.
// Scaling in is not bound by minimumHealthyPercent, as in ECS.
func PlanReplica(in Replica) Plan {
	minHealthy, maxTotal := Bounds(in.Desired, in.MinimumHealthyPercent, in.MaximumPercent)
	tasks := sorted(in.Tasks)
	var plan Plan
	stopped := map[string]bool{}
	stop := func(t Task, why Why) {
		stopped[t.ID] = true
		plan.Stop = append(plan.Stop, Stop{ID: t.ID, Why: why})
	}

	healthy := 0
	for _, t := range tasks {
		if !t.Stopping && t.Healthy && !t.Unhealthy {
			healthy++
		}
	}
	// Tasks that failed their health checks never count as healthy:
	// stopping them costs nothing.
	for _, t := range tasks {
		if !t.Stopping && t.Unhealthy {
			stop(t, Unhealthy)
		}
	}
	// The primary's tasks that stay where they are.
	var keep []Task
	for _, t := range tasks {
		if !t.Stopping && !stopped[t.ID] && t.Deployment == in.Primary && !t.Draining {
			keep = append(keep, t)
		}
	}
	// Scale in: the surplus goes at once, tasks not yet healthy first,
	// then the newest.
	if len(keep) > in.Desired {
		surplus := append([]Task(nil), keep...)
		sort.SliceStable(surplus, func(a, b int) bool {
			if surplus[a].Healthy != surplus[b].Healthy {
				return !surplus[a].Healthy
			}
			return surplus[a].Order > surplus[b].Order
		})
		for _, t := range surplus[:len(keep)-in.Desired] {
			if t.Healthy {
				healthy--
			}
			stop(t, ScaleIn)
		}
		keep = keep[:0]
		for _, t := range tasks {
			if !t.Stopping && !stopped[t.ID] && t.Deployment == in.Primary && !t.Draining {
				keep = append(keep, t)
			}
		}
	}
	// Tasks to retire: older deployments' and those on DRAINING instances.
	// The ones not healthy go at once; healthy ones only while enough
	// healthy tasks remain.
	var retire []Task
	for _, t := range tasks {
		if t.Stopping || stopped[t.ID] {
			continue
		}
		if t.Deployment != in.Primary || t.Draining {
			retire = append(retire, t)
		}
	}
	// Older deployments first, then draining; oldest tasks first in each.
	sort.SliceStable(retire, func(a, b int) bool {
		ra, rb := retire[a].Deployment == in.Primary, retire[b].Deployment == in.Primary
		if ra != rb {
			return !ra
		}
		return retire[a].Order < retire[b].Order
	})
	for _, t := range retire {
		why := Replaced
		if t.Deployment == in.Primary {
			why = Draining
		}
		switch {
		case !t.Healthy:
			stop(t, why)
		case healthy-1 >= minHealthy:
			healthy--
			stop(t, why)
		}
	}
	// Start what the primary lacks, within maximumPercent. Stopping tasks
	// still run until their agent reports them STOPPED, so they count.
	if in.CanLaunch {
		room := maxTotal - len(tasks)
		plan.Start = max(0, min(in.Desired-len(keep), room))
	}
	return plan
}

// DaemonInstance is one instance of the cluster, as a DAEMON service sees it.
type DaemonInstance struct {
	ID       string
	Eligible bool // ACTIVE, and the service's constraints hold on it
	Tasks    []Task
}

// Daemon is the state of a DAEMON service.
type Daemon struct {
	MinimumHealthyPercent int
	Primary               string
	CanLaunch             bool
	Instances             []DaemonInstance
}

// PlanDaemon keeps one task of the primary deployment on every eligible
// instance. An instance holds at most one of the service's tasks at a time
// (maximumPercent is 100 for DAEMON): a new revision's task starts where
// the old one has stopped, and old tasks are stopped only while enough
// healthy ones remain.
func PlanDaemon(in Daemon) Plan {
	var plan Plan
	eligible := 0
	healthy := 0
	for _, inst := range in.Instances {
		if inst.Eligible {
			eligible++
		}
		for _, t := range inst.Tasks {
			if !t.Stopping && t.Healthy && !t.Unhealthy && inst.Eligible {
				healthy++
			}
		}
	}
	minHealthy, _ := Bounds(eligible, in.MinimumHealthyPercent, 100)
	var retire []Task
	for _, inst := range in.Instances {
		tasks := sorted(inst.Tasks)
		kept := false
		busy := false
		for _, t := range tasks {
			if t.Stopping {
				busy = true
				continue
			}
			switch {
			case !inst.Eligible:
				plan.Stop = append(plan.Stop, Stop{ID: t.ID, Why: Ineligible})
				busy = true
			case t.Unhealthy:
				plan.Stop = append(plan.Stop, Stop{ID: t.ID, Why: Unhealthy})
				busy = true
			case t.Deployment == in.Primary && !kept:
				kept, busy = true, true
			case t.Deployment == in.Primary:
				plan.Stop = append(plan.Stop, Stop{ID: t.ID, Why: ScaleIn})
				if t.Healthy {
					healthy--
				}
				busy = true
			default:
				retire = append(retire, t)
				busy = true
			}
		}
		if inst.Eligible && !busy && in.CanLaunch {
			plan.On = append(plan.On, inst.ID)
		}
	}
	for _, t := range sorted(retire) {
		switch {
		case !t.Healthy:
			plan.Stop = append(plan.Stop, Stop{ID: t.ID, Why: Replaced})
		case healthy-1 >= minHealthy:
			healthy--
			plan.Stop = append(plan.Stop, Stop{ID: t.ID, Why: Replaced})
		}
	}
	return plan
}

// sorted returns the tasks oldest first, leaving the caller's slice alone.
func sorted(tasks []Task) []Task {
	out := append([]Task(nil), tasks...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Order < out[b].Order })
	return out
}
