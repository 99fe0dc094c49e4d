package server

import (
	"context"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
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
	t, err := s.state.ChangeTask(ctx, scopeOf(ctx), ecs.Val(in.Cluster), ecs.Val(in.Task), func(t *state.Task, _ *state.InstanceChange) error {
		if t.DesiredStatus == "STOPPED" {
			return state.ErrUnchanged
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
	_, err := s.state.ChangeTask(ctx, scopeOf(ctx), ecs.Val(in.Cluster), ecs.Val(in.Task), func(t *state.Task, ic *state.InstanceChange) error {
		changed := false
		for _, cs := range in.Containers {
			changed = state.ApplyContainerChange(t, ecs.Val(cs.ContainerName), cs.RuntimeId, cs.Status, cs.ExitCode, cs.Reason, cs.NetworkBindings) || changed
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
		if state.AdvanceTask(t, ecs.Val(in.Status), ecs.Val(in.Reason), s.now().UTC(), ic) {
			changed = true
		}
		if !changed {
			return state.ErrUnchanged
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.SubmitTaskStateChangeResponse{Acknowledgment: ecs.Ptr("ACK")}, nil
}

func (s *Server) SubmitContainerStateChange(ctx context.Context, in *ecs.SubmitContainerStateChangeRequest) (*ecs.SubmitContainerStateChangeResponse, error) {
	_, err := s.state.ChangeTask(ctx, scopeOf(ctx), ecs.Val(in.Cluster), ecs.Val(in.Task), func(t *state.Task, _ *state.InstanceChange) error {
		if !state.ApplyContainerChange(t, ecs.Val(in.ContainerName), in.RuntimeId, in.Status, in.ExitCode, in.Reason, in.NetworkBindings) {
			return state.ErrUnchanged
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
	if _, _, err := s.state.ActiveCluster(scopeOf(ctx), ecs.Val(in.Cluster)); err != nil {
		return nil, err
	}
	return &ecs.SubmitAttachmentStateChangesResponse{Acknowledgment: ecs.Ptr("ACK")}, nil
}
