package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
)

// AddUnplaceableEvent says why a task could not be placed, as ECS does,
// unless the newest event already says the same thing. It reports whether
// it added one.
func (r *Service) AddUnplaceableEvent(now time.Time, failures []ecs.Failure, reason string) bool {
	msg := fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements.", r.Name)
	switch {
	case reason != "":
		msg += " Reason: " + reason
	case len(failures) > 0:
		f := failures[0]
		id := ecs.Val(f.Arn)
		id = id[strings.LastIndex(id, "/")+1:]
		msg += fmt.Sprintf(" The closest matching (container-instance %s) %s.", id, failureWords(ecs.Val(f.Reason)))
	}
	msg += " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	for _, e := range r.Events {
		if e.Message == msg && now.Sub(e.CreatedAt) < 5*time.Minute {
			return false
		}
		break
	}
	r.pushEvent(now, msg)
	return true
}

// failureWords turns a placement failure reason into the words of ECS's event.
func failureWords(reason string) string {
	switch reason {
	case scheduler.ReasonMemory:
		return "has insufficient memory available"
	case scheduler.ReasonCPU:
		return "has insufficient CPU units available"
	case scheduler.ReasonPorts, scheduler.ReasonPortsUDP:
		return "is already using a port required by your task"
	case scheduler.ReasonGPU:
		return "has insufficient GPU available"
	case scheduler.ReasonAttribute:
		return "is missing an attribute required by your task"
	case scheduler.ReasonAgent:
		return "encountered error \"AGENT\""
	case scheduler.ReasonDraining:
		return "is in DRAINING state"
	}
	return "does not meet the placement constraints: " + reason
}
