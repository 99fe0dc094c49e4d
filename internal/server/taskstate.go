package server

import (
	"context"
	"errors"
	"strings"
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
		// Attachments first: a report of STOPPED with the interface
		// DETACHED ends the task at once, one without it only once the
		// agent says the network is gone (state.ReportedStatus).
		for _, a := range in.Attachments {
			if t.ENI != nil && attachmentOf(scopeOf(ctx), ecs.Val(a.AttachmentArn)) == t.ENI.AttachmentID {
				changed = state.ApplyAttachmentChange(t, ecs.Val(a.Status), s.now().UTC(), ic) || changed
			}
		}
		if state.AdvanceTask(t, state.ReportedStatus(t, ecs.Val(in.Status)), ecs.Val(in.Reason), s.now().UTC(), ic) {
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

// SubmitAttachmentStateChanges records what an agent reports of awsvpc
// tasks' network interfaces: ATTACHED when it has built a task's network,
// DETACHED when it has taken it down. Attachments Berth does not know (a
// task already STOPPED, another kind) are acknowledged and ignored, as a
// report re-sent after a reconnect must be harmless.
func (s *Server) SubmitAttachmentStateChanges(ctx context.Context, in *ecs.SubmitAttachmentStateChangesRequest) (*ecs.SubmitAttachmentStateChangesResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	for _, a := range in.Attachments {
		_, t, err := s.state.TaskByAttachment(sc, cl.Name, ecs.Val(a.AttachmentArn))
		if err != nil {
			return nil, err
		}
		if t == nil {
			continue
		}
		_, err = s.state.ChangeTask(ctx, sc, cl.Name, t.ARN, func(t *state.Task, ic *state.InstanceChange) error {
			if t.ENI == nil || !state.ApplyAttachmentChange(t, ecs.Val(a.Status), s.now().UTC(), ic) {
				return state.ErrUnchanged
			}
			return nil
		})
		if err != nil && !errors.Is(err, state.ErrTaskNotFound) {
			return nil, err
		}
	}
	return &ecs.SubmitAttachmentStateChangesResponse{Acknowledgment: ecs.Ptr("ACK")}, nil
}

// attachmentOf is the attachment id an agent's attachmentArn names in the
// caller's scope ("" for another scope's).
func attachmentOf(sc state.Scope, ref string) string {
	id, found := strings.CutPrefix(ref, sc.AttachmentARN(""))
	if !found {
		return ""
	}
	return id
}
