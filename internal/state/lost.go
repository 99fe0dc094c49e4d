package state

import (
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// Lost tasks: those on an instance whose agent has been disconnected too
// long, or that was deregistered. Nothing will ever report their end, so
// the instances controller records them STOPPED and gives their resources
// back; should the agent come back, the manifest it is sent no longer
// lists them and it stops their containers (stop verification).

// ReasonInstanceDeregistered is the stoppedReason of a task whose instance
// was deregistered (or is gone).
const ReasonInstanceDeregistered = "Task stopped because its container instance was deregistered."

// ReasonAgentLost is the stoppedReason of a task whose instance's agent has
// been disconnected for longer than after.
func ReasonAgentLost(after time.Duration) string {
	return "Task stopped because its container instance's agent has been disconnected for more than " + after.String() + "."
}

// LostStopCode is the stop code of a lost task. A service's task says the
// service scheduler stopped it, as ECS's does when it replaces it. Any
// other (RunTask, StartTask) says InfrastructureHealth, ECS's code for a
// task stopped because what it ran on became unhealthy: the task neither
// failed nor was stopped by anyone. Neither counts as a failure (TaskFailed),
// so a lost instance never trips a service's circuit breaker.
func LostStopCode(t *Task) ecs.TaskStopCode {
	if t.ServiceName != "" {
		return ecs.TaskStopCodeServiceSchedulerInitiated
	}
	return ecs.TaskStopCodeInfrastructureHealth
}

// StopLost records a lost task STOPPED with reason, and its resources given
// back to its instance (through ic). It reports whether anything changed.
func StopLost(t *Task, reason string, now time.Time, ic *InstanceChange) bool {
	if t.LastStatus == "STOPPED" {
		return false
	}
	if t.LastStatus == "DEPROVISIONING" {
		// Its containers had stopped, for the reason already recorded;
		// only the network's teardown is lost with the instance.
		return AdvanceTask(t, "STOPPED", t.StoppedReason, now, ic)
	}
	t.StopCode, t.StoppedReason = string(LostStopCode(t)), reason
	return AdvanceTask(t, "STOPPED", reason, now, ic)
}

// maxTasksNamed bounds the tasks an event names: a service of 5,000 tasks
// scaled in to 0 stops them all in one event, which naming each would make
// a record of 200 KiB, kept 100 events deep.
const maxTasksNamed = 100

// AddStoppedEvent says which of the service's tasks were stopped, as ECS's
// service scheduler words it (past maxTasksNamed, the rest are counted).
func (r *Service) AddStoppedEvent(now time.Time, tasks []*Task) {
	named := tasks[:min(len(tasks), maxTasksNamed)]
	parts := make([]string, len(named))
	for i, t := range named {
		parts[i] = "(task " + t.ID + ")"
	}
	if more := len(tasks) - len(named); more > 0 {
		parts = append(parts, "and "+strconv.Itoa(more)+" more")
	}
	r.AddEvent(now, "(service %s) has stopped %d running tasks: %s.", r.Name, len(tasks), strings.Join(parts, " "))
}
