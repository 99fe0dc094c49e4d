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

// The service scheduler's writes: each one guarded by the revisions its
// decision was made on, so a decision on a state that is gone writes nothing.

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

// stopServiceTasks tells every task of the plan to stop in this pass, with
// one event, as ECS stops a service scaled in to 0 at once. etcd takes at
// most 128 operations in a transaction, so the stops go maxTasksPerWrite at
// a time, each batch guarded by the service's revision (checked, not
// written) and the tasks', and the last with the service record and its
// event. A batch that conflicts ends the pass: the next one plans the
// remaining stops again from what is stored (the batches already written
// go without an event of their own).
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
	for _, st := range stops {
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
	for len(ops) > maxTasksPerWrite {
		batch := append(ops[:maxTasksPerWrite:maxTasksPerWrite], store.Check(o.Key, o.Rev))
		if _, err := c.store.Commit(ctx, batch...); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return placement.ErrStale
			}
			return err
		}
		ops = ops[maxTasksPerWrite:]
	}
	return c.commitStops(ctx, o, cp, stopped, ops, now)
}

// commitStops writes stopped tasks (ops) with the service record cp and
// its event saying what was stopped, guarded by the revisions read.
func (c *Controller) commitStops(ctx context.Context, o *store.Object, cp *state.Service, stopped []*state.Task, ops []store.Op, now time.Time) error {
	cp.AddStoppedEvent(now, stopped)
	ops = append(ops, store.Put(o.Key, cp, o.Rev))
	_, err := c.store.Commit(ctx, ops...)
	if errors.Is(err, store.ErrConflict) {
		return placement.ErrStale
	}
	return err
}
