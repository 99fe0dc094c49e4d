package engine

import (
	"context"
	"errors"

	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// An awsvpc task runs in a network namespace of its own, held by a pause
// container at the address the control plane allocated (agent/docker's
// awsvpc.go builds it). The engine keeps the pause apart from the task's
// containers: it is never reported as one, and it brackets them. It starts
// before any of them (they join its namespace), and it is removed only
// after all of them stopped, and before the task is reported STOPPED. As
// the stock agent does, the engine confirms the attachment ATTACHED once
// the pause runs, in a SubmitTaskStateChange of its own ahead of RUNNING;
// Berth's control plane also takes DETACHED, which the STOPPED report
// carries, and releases the address then.

// sandbox is an awsvpc task's network, as the engine knows it.
type sandbox struct {
	pause          *ctr // nil until created (or found by Adopt)
	removing       bool // a RemoveSandbox is in flight
	removed        bool // the pause is gone, removed by the agent or not
	attachedQueued bool // the ATTACHED report was handed to the reporter
}

// Attachment statuses, as ECS names them.
const (
	attachmentAttached = "ATTACHED"
	attachmentDetached = "DETACHED"
)

// pauseDockerName is the pause container's name in Docker, fixed by the
// task like its other containers' (Docker takes no "~" in names).
func pauseDockerName(t *task) string { return dockerName(t, &ctr{name: "internalecspause"}) }

// awsvpc reports whether the task runs in a pause container's namespace.
func (t *task) awsvpc() bool {
	return t.net != nil || t.spec != nil && ecs.Val(t.spec.NetworkMode) == "awsvpc"
}

// sandbox is the task's network, made on first use; nil for a task of
// another network mode.
func (t *task) sandbox() *sandbox {
	if t.net == nil && t.awsvpc() {
		t.net = &sandbox{}
	}
	return t.net
}

// sandboxID is the pause container's id, which the task's containers join;
// "" for a task of another network mode.
func (t *task) sandboxID() string {
	if t.net == nil || t.net.pause == nil {
		return ""
	}
	return t.net.pause.id
}

// attachmentARN is the task's network interface attachment, "" when the
// payload names none (or has not arrived).
func (t *task) attachmentARN() string {
	if t.spec == nil || !t.awsvpc() {
		return ""
	}
	return docker.AttachmentARN(t.spec)
}

// adoptSandbox takes a pause container an earlier run of the agent left.
func adoptSandbox(t *task, st docker.State) {
	c := &ctr{name: docker.PauseContainerName, id: st.ID, known: statusCreated}
	observe(c, st)
	t.net = &sandbox{pause: c}
}

// observeSandbox reads the pause container's state, as observeTask does
// the task's containers'.
func (e *Engine) observeSandbox(ctx context.Context, t *task, full bool, dirty map[string]bool) {
	if t.net == nil || t.net.removed || t.net.removing {
		return
	}
	p := t.net.pause
	if p == nil || p.id == "" || p.starting || p.known == statusStopped || !(full || dirty[p.id]) {
		return
	}
	st, err := e.rt.Inspect(ctx, p.id)
	if errors.Is(err, docker.ErrNotFound) {
		p.known, t.net.removed = statusStopped, true
		return
	}
	if err == nil {
		observe(p, st)
	}
}

// sandboxReady makes sure the task's network exists before its containers
// start: it reports whether they may start now. A pause container that is
// gone or stopped while the task is wanted running fails the task: its
// containers have lost their network, and a new pause could not give it
// back to those already running.
func (e *Engine) sandboxReady(ctx context.Context, t *task) bool {
	net := t.sandbox()
	if net == nil {
		return true
	}
	p := net.pause
	switch {
	case p == nil && net.removed:
		e.fail(t, lostReason(t))
	case p == nil:
		for _, c := range t.containers {
			if c.id != "" {
				e.fail(t, lostReason(t)) // its containers outlived it (found by Adopt)
				return false
			}
		}
		e.runSandbox(ctx, t, net)
	case p.starting:
	case p.known == statusRunning:
		e.queueAttached(ctx, t)
		return true
	case p.known == statusCreated && p.id != "":
		e.startCreated(ctx, p) // created by an agent stopped before it started it
	case p.known == statusStopped && p.reason != "":
		e.fail(t, p.reason)
	case p.known == statusStopped:
		e.fail(t, lostReason(t))
	}
	return false
}

// lostReason is why a task whose pause container is gone stops. An
// essential container that exited says more: the agent removes the pause
// of a task that ended so, and may die before it reported the task
// STOPPED; its next run finds the containers without their pause.
func lostReason(t *task) string {
	for _, c := range t.containers {
		if c.known == statusStopped && c.everRan && c.essential() {
			return "Essential container in task exited"
		}
	}
	return sandboxLost
}

// sandboxLost is the stoppedReason of a task whose pause container stopped
// or went while the task was wanted running.
const sandboxLost = "TaskNetworkError: the task's pause container, which holds its awsvpc network (its address), stopped or was removed"

// runSandbox creates and starts the pause container in the background, as
// start does a container.
func (e *Engine) runSandbox(ctx context.Context, t *task, net *sandbox) {
	sb, err := docker.SandboxFor(t.spec, docker.Placement{ClusterName: e.cluster, Instance: e.instance})
	if err != nil {
		e.fail(t, "ResourceInitializationError: "+err.Error())
		return
	}
	p := &ctr{name: docker.PauseContainerName, known: statusNone, starting: true}
	net.pause = p
	name := pauseDockerName(t)
	go func() {
		e.starts <- struct{}{}
		defer func() { <-e.starts }()
		id, err := e.rt.RunSandbox(ctx, name, sb)
		var st docker.State
		inspected := false
		if err == nil {
			var ierr error
			st, ierr = e.rt.Inspect(ctx, id)
			inspected = ierr == nil
		}
		e.mu.Lock()
		p.starting = false
		if id != "" {
			p.id, p.known = id, statusCreated
		}
		switch {
		case err != nil:
			p.known, p.reason = statusStopped, "ResourceInitializationError: could not set up the task's awsvpc network: "+err.Error()
		case inspected:
			observe(p, st)
		}
		e.mu.Unlock()
		e.poke()
	}()
}

// queueAttached confirms the attachment once, ahead of the task's RUNNING.
func (e *Engine) queueAttached(ctx context.Context, t *task) {
	arn := t.attachmentARN()
	if t.net.attachedQueued || arn == "" {
		return
	}
	t.net.attachedQueued = true
	e.enqueue(ctx, t, Report{TaskARN: t.arn, Attachments: []AttachmentReport{{ARN: arn, Status: attachmentAttached}}})
}

// sandboxRemoved removes the pause container once the task's containers
// all stopped, in the background; it reports whether it is gone, and so
// whether the task may be reported STOPPED.
func (e *Engine) sandboxRemoved(ctx context.Context, t *task) bool {
	net := t.net
	if net == nil || net.removed {
		return true
	}
	p := net.pause
	switch {
	case p == nil || p.id == "" && !p.starting:
		net.removed = true
		return true
	case p.starting || net.removing:
		return false
	}
	net.removing = true
	go func(id string) {
		err := e.rt.RemoveSandbox(ctx, id)
		e.mu.Lock()
		net.removing = false
		if err == nil {
			net.removed, p.known = true, statusStopped
		}
		e.mu.Unlock()
		if err != nil {
			e.log.Warn("could not remove the pause container; trying again", "task", t.arn, "id", id, "err", err)
		}
		e.poke()
	}(p.id)
	return false
}

// detached is the attachment part of the task's STOPPED report: the pause
// container is gone by then, and the control plane may give the address to
// another task.
func (t *task) detached() []AttachmentReport {
	if arn := t.attachmentARN(); arn != "" {
		return []AttachmentReport{{ARN: arn, Status: attachmentDetached}}
	}
	return nil
}
