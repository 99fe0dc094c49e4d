package service

import (
	"context"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Tasks whose agent is gone. When an instance's agent has been disconnected
// for longer than agentLostAfter, or the instance was deregistered, nothing
// will ever report its tasks' end: the service scheduler records those of
// its services as STOPPED, gives their resources back, and replaces them
// elsewhere. Should the agent come back, the task manifest it is sent no
// longer lists them, and it stops their containers (stop verification).

// DefaultAgentLostAfter: ECS has no such setting (it learns of lost EC2
// instances from EC2); five minutes rides out an agent restart or upgrade.
const DefaultAgentLostAfter = 5 * time.Minute

// lostTask is a task given up on, with the stoppedReason it gets.
type lostTask struct {
	state.ServiceTask
	reason string
}

// lostTasks returns the service's tasks not yet STOPPED whose instance's
// agent is lost, and when the next one would be (zero: none is waiting).
func (c *Controller) lostTasks(sc state.Scope, cluster string, tasks []state.ServiceTask, now time.Time) ([]lostTask, time.Time) {
	var lost []lostTask
	var next time.Time
	byInstance := map[string]*state.Instance{}
	for _, st := range tasks {
		t := st.Rec
		if t.LastStatus == "STOPPED" || t.InstanceID == "" {
			continue
		}
		inst, seen := byInstance[t.InstanceID]
		if !seen {
			_, inst, _ = c.state.Instance(sc, cluster, t.InstanceID)
			byInstance[t.InstanceID] = inst
		}
		switch {
		case inst == nil || inst.Status == state.StatusInactive:
			lost = append(lost, lostTask{st, "Task stopped because its container instance was deregistered."})
		case inst.AgentConnected || inst.AgentDisconnectedAt == nil:
		case now.Sub(*inst.AgentDisconnectedAt) >= c.agentLostAfter:
			lost = append(lost, lostTask{st, "Task stopped because its container instance's agent has been disconnected for more than " + c.agentLostAfter.String() + "."})
		default:
			next = earliest(next, inst.AgentDisconnectedAt.Add(c.agentLostAfter))
		}
	}
	return lost, next
}

// stopLostTasks records lost tasks as STOPPED, with their instances'
// resources given back and the service's event, in one transaction guarded
// by the revisions they were read at.
func (c *Controller) stopLostTasks(ctx context.Context, sc state.Scope, o *store.Object, r *state.Service, lost []lostTask) error {
	now := c.now().UTC()
	cp, err := state.DecodeCopy[state.Service](c.state, o)
	if err != nil {
		return err
	}
	type held struct {
		obj *store.Object
		rec state.Instance
	}
	instances := map[string]*held{}
	var ops []store.Op
	var stopped []*state.Task
	for _, st := range lost[:min(len(lost), maxTasksPerWrite)] {
		t, err := state.DecodeCopy[state.Task](c.state, st.Obj) // advanceTask changes its containers: a private copy
		if err != nil {
			return err
		}
		t.StopCode = string(ecs.TaskStopCodeServiceSchedulerInitiated)
		t.StoppedReason = st.reason
		var ic state.InstanceChange
		state.AdvanceTask(t, "STOPPED", t.StoppedReason, now, &ic)
		t.Version++
		ops = append(ops, store.Put(st.Obj.Key, t, st.Obj.Rev))
		stopped = append(stopped, t)
		if ic.Release == nil {
			continue
		}
		h := instances[t.InstanceID]
		if h == nil {
			io, inst, err := c.state.Instance(sc, r.Cluster, t.InstanceID)
			if err != nil {
				return err
			}
			if inst == nil {
				continue
			}
			h = &held{obj: io, rec: *inst}
			instances[t.InstanceID] = h
		}
		h.rec.RemainingResources = state.Adjusted(h.rec.RemainingResources, *ic.Release, -1)
	}
	for _, h := range instances {
		h.rec.Version++
		ops = append(ops, store.Put(h.obj.Key, &h.rec, h.obj.Rev))
	}
	return c.commitStops(ctx, o, cp, stopped, ops, now)
}
