package server

import (
	"context"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Task state moves two ways: StopTask changes what is desired, and the
// agent running the task reports what is (SubmitTaskStateChange,
// SubmitContainerStateChange). Reports are idempotent and never move a task
// or container backwards, so a report re-sent after a reconnect is harmless.

func (s *Server) StopTask(ctx context.Context, in *ecs.StopTaskRequest) (*ecs.StopTaskResponse, error) {
	reason := ecs.Val(in.Reason)
	if reason == "" {
		reason = "Task stopped by user"
	}
	t, err := s.changeTask(ctx, in.Cluster, ecs.Val(in.Task), func(t *taskRecord, _ *instanceChange) error {
		if t.DesiredStatus == "STOPPED" {
			return errUnchanged
		}
		now := s.now().UTC()
		t.DesiredStatus = "STOPPED"
		t.StoppingAt = &now
		if t.LastStatus == "RUNNING" {
			t.LastStatus = "STOPPING" // the agent is stopping its containers, as ECS shows it
		}
		t.StopCode = string(ecs.TaskStopCodeUserInitiated)
		t.StoppedReason = reason
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := taskView(t, false)
	return &ecs.StopTaskResponse{Task: &v}, nil
}

func (s *Server) SubmitTaskStateChange(ctx context.Context, in *ecs.SubmitTaskStateChangeRequest) (*ecs.SubmitTaskStateChangeResponse, error) {
	_, err := s.changeTask(ctx, in.Cluster, ecs.Val(in.Task), func(t *taskRecord, ic *instanceChange) error {
		changed := false
		for _, cs := range in.Containers {
			changed = applyContainerChange(t, ecs.Val(cs.ContainerName), cs.RuntimeId, cs.Status, cs.ExitCode, cs.Reason, cs.NetworkBindings) || changed
		}
		set := func(dst **time.Time, ts *ecs.Timestamp) {
			if ts != nil && *dst == nil {
				v := ts.Time.UTC()
				*dst, changed = &v, true
			}
		}
		set(&t.PullStartedAt, in.PullStartedAt)
		set(&t.PullStoppedAt, in.PullStoppedAt)
		set(&t.ExecutionStoppedAt, in.ExecutionStoppedAt)
		if advanceTask(t, ecs.Val(in.Status), ecs.Val(in.Reason), s.now().UTC(), ic) {
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.SubmitTaskStateChangeResponse{Acknowledgment: ecs.Ptr("ACK")}, nil
}

func (s *Server) SubmitContainerStateChange(ctx context.Context, in *ecs.SubmitContainerStateChangeRequest) (*ecs.SubmitContainerStateChangeResponse, error) {
	_, err := s.changeTask(ctx, in.Cluster, ecs.Val(in.Task), func(t *taskRecord, _ *instanceChange) error {
		if !applyContainerChange(t, ecs.Val(in.ContainerName), in.RuntimeId, in.Status, in.ExitCode, in.Reason, in.NetworkBindings) {
			return errUnchanged
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.SubmitContainerStateChangeResponse{Acknowledgment: ecs.Ptr("ACK")}, nil
}

// SubmitAttachmentStateChanges acknowledges attachment reports: Berth
// creates no elastic network interfaces, so there is nothing to record.
func (s *Server) SubmitAttachmentStateChanges(ctx context.Context, in *ecs.SubmitAttachmentStateChangesRequest) (*ecs.SubmitAttachmentStateChangesResponse, error) {
	if _, _, err := s.activeCluster(scopeOf(ctx), in.Cluster); err != nil {
		return nil, err
	}
	return &ecs.SubmitAttachmentStateChangesResponse{Acknowledgment: ecs.Ptr("ACK")}, nil
}

// applyContainerChange records an agent's report on one container; it
// reports whether anything changed.
func applyContainerChange(t *taskRecord, name string, runtimeID, status *string, exitCode *int32, reason *string, bindings []ecs.NetworkBinding) bool {
	for i := range t.Containers {
		c := &t.Containers[i]
		if c.Name != name {
			continue
		}
		changed := false
		if runtimeID != nil && c.RuntimeID != *runtimeID {
			c.RuntimeID, changed = *runtimeID, true
		}
		if st := ecs.Val(status); st != "" && taskStatusOrder[st] > taskStatusOrder[c.LastStatus] {
			c.LastStatus, changed = st, true
		}
		if exitCode != nil && c.ExitCode == nil {
			c.ExitCode, changed = exitCode, true
		}
		if r := ecs.Val(reason); r != "" && c.Reason == "" {
			c.Reason, changed = r, true
		}
		if len(bindings) > 0 && len(c.NetworkBindings) == 0 {
			c.NetworkBindings, changed = bindings, true
		}
		return changed
	}
	return false
}

// advanceTask moves a task's lastStatus forward to status. On RUNNING it
// records startedAt; on STOPPED it decides the stop code as ECS does and
// hands the task's resources back to its instance.
func advanceTask(t *taskRecord, status, reason string, now time.Time, ic *instanceChange) bool {
	if status == "" || taskStatusOrder[status] <= taskStatusOrder[t.LastStatus] {
		return false
	}
	wasRunning := t.StartedAt != nil
	t.LastStatus = status
	if status == "RUNNING" && t.StartedAt == nil {
		t.StartedAt = &now
	}
	if status != "STOPPED" {
		return true
	}
	t.StoppedAt = &now
	if t.ExecutionStoppedAt == nil {
		t.ExecutionStoppedAt = &now
	}
	if t.StoppingAt == nil {
		t.StoppingAt = &now
	}
	t.DesiredStatus = "STOPPED"
	if t.StopCode == "" {
		switch {
		case !wasRunning:
			t.StopCode = string(ecs.TaskStopCodeTaskFailedToStart)
			t.StoppedReason = reason
		default:
			t.StopCode = string(ecs.TaskStopCodeEssentialContainerExited)
			t.StoppedReason = "Essential container in task exited"
		}
		if t.StoppedReason == "" {
			t.StoppedReason = reason
		}
	}
	for i := range t.Containers {
		if t.Containers[i].LastStatus != "STOPPED" {
			t.Containers[i].LastStatus = "STOPPED"
		}
	}
	if !t.Released {
		t.Released = true
		ic.release = &t.Needs
	}
	return true
}

// errUnchanged aborts a task change that would write nothing new.
var errUnchanged = ecs.NewServerException("unchanged")

// instanceChange is what a task change does to the task's instance.
type instanceChange struct {
	release *taskNeeds // resources to give back
}

// changeTask applies change to a private copy of a task and writes it back
// (with its instance, when resources are given back), retrying on conflict.
// A change returning errUnchanged writes nothing and answers the task as is.
func (s *Server) changeTask(ctx context.Context, clusterRef *string, ref string, change func(*taskRecord, *instanceChange) error) (*taskRecord, error) {
	sc := scopeOf(ctx)
	var result *taskRecord
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.activeCluster(sc, clusterRef)
		if err != nil {
			return nil, err
		}
		o, t, err := s.findTask(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, ecs.NewInvalidParameterException("The referenced task was not found.")
		}
		changed, err := decodeCopy[taskRecord](s, o)
		if err != nil {
			return nil, err
		}
		var ic instanceChange
		if err := change(changed, &ic); err == errUnchanged {
			result = t
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		changed.Version++
		result = changed
		ops := []store.Op{store.Put(o.Key, changed, o.Rev)}
		if ic.release != nil {
			io, inst, err := s.findInstance(sc, cl.Name, changed.InstanceID)
			if err != nil {
				return nil, err
			}
			if inst != nil {
				cp := *inst
				cp.RemainingResources = adjusted(inst.RemainingResources, *ic.release, -1)
				cp.Version++
				ops = append(ops, store.Put(io.Key, &cp, io.Rev))
			}
		}
		return ops, nil
	})
	return result, err
}
