package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// defaultStopTimeout is ECS's: SIGTERM, then SIGKILL 30 s later.
const defaultStopTimeout = 30 * time.Second

// reconcile makes one pass over every task. It holds the engine's lock, so
// it only does what is quick; image pulls and stops run on their own and
// wake the engine when they end.
func (e *Engine) reconcile(ctx context.Context, full bool, dirty map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.tasks {
		e.observeTask(ctx, t, full, dirty)
		e.observeSandbox(ctx, t, full, dirty)
		if t.spec != nil && t.desired == statusRunning && t.known != statusStopped {
			e.advance(ctx, t)
		}
		// A task is RUNNING once every container of it runs or has run,
		// whatever is wanted of it by now: a sidecar whose start ends after
		// the essential container exited still ran. A task whose containers
		// ran and exited since the last pass (a migration with nothing to
		// do, or one adopted after it exited) is RUNNING here and STOPPED
		// below, and its RUNNING is reported first: the control plane
		// records startedAt from it, and takes a task that never ran for
		// one that failed to start.
		if t.known == statusNone && t.ran() {
			t.known = statusRunning
		}
		if t.known == statusRunning && !t.runningQueued {
			e.queueReport(ctx, t)
		}
		if t.desired == statusStopped || t.known == statusStopped {
			e.stop(ctx, t)
		}
		if t.known == statusStopped {
			e.removeTaskCgroup(ctx, t)
		}
		e.queueReport(ctx, t)
	}
}

// observeTask reads the state of the task's containers from Docker: all of
// them on a full pass, else those an event named.
func (e *Engine) observeTask(ctx context.Context, t *task, full bool, dirty map[string]bool) {
	for _, c := range t.containers {
		if c.id == "" || c.known == statusStopped || c.starting || !(full || dirty[c.id]) {
			continue
		}
		st, err := e.rt.Inspect(ctx, c.id)
		if errors.Is(err, docker.ErrNotFound) {
			c.known, c.reason = statusStopped, "The container was removed outside the agent."
			continue
		}
		if err != nil {
			continue // the next pass tries again
		}
		observe(c, st)
	}
}

// observe applies Docker's view of a container.
func observe(c *ctr, st docker.State) {
	c.health = st.Health
	if st.Running {
		c.known, c.everRan = statusRunning, true
		c.startedAt = st.StartedAt
		// A new slice each time, never the old one refilled: reports
		// already handed to the reporter share the old one, and are read
		// on the reporter's goroutines.
		bindings := make([]ecs.NetworkBinding, 0, len(st.Bindings))
		for _, b := range st.Bindings {
			bindings = append(bindings, ecs.NetworkBinding{BindIP: ecs.Ptr(b.BindIP), ContainerPort: ecs.Ptr(b.ContainerPort), HostPort: ecs.Ptr(b.HostPort), Protocol: ecs.TransportProtocol(b.Protocol)})
		}
		c.bindings = bindings
		return
	}
	if st.Exited {
		c.known, c.everRan = statusStopped, true
		c.exitCode = ecs.Ptr(int32(st.ExitCode))
		// With a task cgroup, Docker marks every container of the task
		// OOM-killed when one is (the kernel tells the whole subtree):
		// those the agent was stopping were not.
		if st.OOMKilled && !c.stopping {
			c.reason = "OutOfMemoryError: Container killed due to memory usage"
		}
	}
}

// advance starts what can start: volumes first, then each container whose
// dependencies are met, in the task definition's order.
func (e *Engine) advance(ctx context.Context, t *task) {
	if !t.cgroupReady {
		if err := e.createTaskCgroup(ctx, t); err != nil {
			e.fail(t, err.Error())
			return
		}
		t.cgroupReady = true
	}
	if !t.prepared {
		if err := e.prepare(ctx, t); err != nil {
			e.fail(t, err.Error())
			return
		}
		t.prepared = true
	}
	if !e.sandboxReady(ctx, t) {
		return // an awsvpc task's containers start once its network exists
	}
	for _, c := range t.containers {
		switch {
		case c.known == statusRunning || (c.known == statusStopped && c.everRan):
		case c.known == statusStopped:
			if c.essential() {
				e.fail(t, c.reason)
				return
			}
		case c.known == statusNone, c.known == statusCreated && c.id != "":
			ready, err := dependenciesMet(t, c)
			if err != nil {
				c.known, c.reason = statusStopped, err.Error()
				continue
			}
			if !ready || c.starting {
				continue
			}
			if c.known == statusCreated {
				// Created by an agent that was stopped before it started
				// it (found by Adopt): start that one, not a second.
				e.startCreated(ctx, c)
				continue
			}
			e.start(ctx, t, c)
		}
	}
	for _, c := range t.containers {
		if c.known == statusStopped && c.everRan && c.essential() {
			t.desired, t.reason = statusStopped, "Essential container in task exited"
			return
		}
	}
}

// dependenciesMet reports whether c may start; an error means it never will.
func dependenciesMet(t *task, c *ctr) (bool, error) {
	if c.spec == nil {
		return false, nil
	}
	for _, d := range c.spec.DependsOn {
		dep := t.container(ecs.Val(d.ContainerName))
		if dep == nil {
			return false, fmt.Errorf("dependency %s is not in the task", ecs.Val(d.ContainerName))
		}
		ok := false
		switch d.Condition {
		case acsmsg.ContainerConditionStart:
			ok = dep.everRan
		case acsmsg.ContainerConditionComplete:
			ok = dep.known == statusStopped && dep.everRan
		case acsmsg.ContainerConditionSuccess:
			if dep.known == statusStopped && dep.exitCode != nil && *dep.exitCode != 0 {
				return false, fmt.Errorf("dependency %s exited with %d, not 0", dep.name, *dep.exitCode)
			}
			ok = dep.known == statusStopped && dep.exitCode != nil
		case acsmsg.ContainerConditionHealthy:
			if dep.known == statusStopped {
				return false, fmt.Errorf("dependency %s stopped before it became HEALTHY", dep.name)
			}
			ok = dep.health == "HEALTHY"
		}
		if !ok {
			if timeout := ecs.Val(c.spec.StartTimeout); timeout > 0 && time.Since(t.createdAt) > time.Duration(timeout)*time.Second {
				return false, fmt.Errorf("dependency %s was not %s within the container's startTimeout of %d s", dep.name, d.Condition, timeout)
			}
			return false, nil
		}
	}
	return true, nil
}

// start pulls (when needed), creates and starts one container, in the
// background: the engine's lock is held only to read the spec and to record
// the outcome, so many containers start at once.
func (e *Engine) start(ctx context.Context, t *task, c *ctr) {
	if t.pullStart.IsZero() {
		t.pullStart = time.Now()
	}
	env := map[string]string{}
	for _, f := range c.spec.EnvironmentFiles {
		env[ecs.Val(f.Value)] = readEnvFile(ecs.Val(f.Value))
	}
	peers := map[string]string{}
	for _, p := range t.containers {
		if p.id != "" {
			peers[p.name] = dockerName(t, p)
		}
	}
	placement := docker.Placement{ClusterName: e.cluster, Instance: e.instance, Peers: peers, Volumes: t.volumeSources(), EnvFiles: env,
		CgroupParent: t.cgroupParent, Sandbox: t.sandboxID()}
	if e.env != nil {
		placement.AgentEnvironment, placement.DefaultEnvironment = e.env(t.spec, c.name)
	}
	cfg, host, err := docker.Build(t.spec, c.spec, placement)
	if err != nil {
		c.known, c.reason = statusStopped, err.Error()
		return
	}
	image, name := ecs.Val(c.spec.Image), dockerName(t, c)
	c.starting = true
	go func() {
		e.starts <- struct{}{}
		defer func() { <-e.starts }()
		var id string
		var st docker.State
		inspected := false
		err := e.rt.EnsureImage(ctx, image)
		pulled := time.Now()
		if err == nil {
			if id, err = e.rt.Create(ctx, name, cfg, host); err != nil {
				err = fmt.Errorf("CannotCreateContainerError: %v", err)
			}
		}
		if err == nil {
			if err = e.rt.Start(ctx, id); err != nil {
				err = fmt.Errorf("CannotStartContainerError: %v", err)
			}
		}
		if err == nil {
			var ierr error
			st, ierr = e.rt.Inspect(ctx, id)
			inspected = ierr == nil
		}
		e.mu.Lock()
		c.starting = false
		if t.pullStop.IsZero() {
			t.pullStop = pulled
		}
		if id != "" {
			c.id, c.known = id, statusCreated
		}
		switch {
		case err != nil:
			c.known, c.reason = statusStopped, err.Error()
		case inspected:
			observe(c, st)
		}
		e.mu.Unlock()
		e.poke()
	}()
}

// startCreated starts a container that exists but never ran, in the
// background like start.
func (e *Engine) startCreated(ctx context.Context, c *ctr) {
	c.starting = true
	go func(id string) {
		e.starts <- struct{}{}
		defer func() { <-e.starts }()
		err := e.rt.Start(ctx, id)
		var st docker.State
		var ierr error
		if err == nil {
			st, ierr = e.rt.Inspect(ctx, id)
		}
		e.mu.Lock()
		c.starting = false
		switch {
		case err != nil:
			c.known, c.reason = statusStopped, fmt.Sprintf("CannotStartContainerError: %v", err)
		case ierr == nil:
			observe(c, st)
		}
		e.mu.Unlock()
		e.poke()
	}(c.id)
}

// fail stops a task that cannot run, with the reason ECS shows.
func (e *Engine) fail(t *task, reason string) {
	t.desired = statusStopped
	if t.reason == "" {
		t.reason = reason
	}
}

// stop stops every running container (each with its stopTimeout, in the
// background) and marks the task STOPPED once none runs.
func (e *Engine) stop(ctx context.Context, t *task) {
	all := true
	for _, c := range t.containers {
		switch c.known {
		case statusNone:
			if c.starting {
				all = false // its start is in flight: stop it once created
				continue
			}
			c.known = statusStopped
		case statusRunning, statusCreated:
			all = false
			if c.stopping || c.id == "" {
				continue
			}
			c.stopping = true
			timeout := defaultStopTimeout
			if c.spec != nil && c.spec.StopTimeout != nil {
				timeout = time.Duration(*c.spec.StopTimeout) * time.Second
			}
			go func(id string) {
				if err := e.rt.Stop(ctx, id, timeout); err != nil {
					e.log.Warn("could not stop container", "id", id, "err", err)
				}
				e.poke()
			}(c.id)
		}
	}
	if all && t.known != statusStopped {
		if !e.sandboxRemoved(ctx, t) {
			return // an awsvpc task is STOPPED once its network is gone too
		}
		t.known, t.stoppedAt = statusStopped, time.Now()
	}
}
