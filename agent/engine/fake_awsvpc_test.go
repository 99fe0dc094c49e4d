package engine

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// The fake's side of awsvpc: pause containers (named, as the others, by
// their container-name label, docker.PauseContainerName), and the rule the
// engine must respect: a container that joins another's network starts
// only while that one runs, as Docker's "cannot join network of a non
// running container".

func (f *fakeRuntime) RunSandbox(ctx context.Context, name string, s docker.Sandbox) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{op: "RunSandbox", subject: s.Labels[docker.LabelContainerName]})
	if f.sandboxError != nil {
		return "", f.sandboxError
	}
	c := f.createLocked(name, &container.Config{Labels: s.Labels})
	c.sandbox = &s
	if c.state != "running" {
		f.startLocked(c)
	}
	return c.id, nil
}

func (f *fakeRuntime) RemoveSandbox(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return nil
	}
	f.calls = append(f.calls, fakeCall{op: "RemoveSandbox", subject: c.name})
	if c.state == "running" {
		f.exitLocked(c, 0) // the pause exits 0 on SIGTERM
	}
	delete(f.containers, id)
	for name, cid := range f.byName {
		if cid == id {
			delete(f.byName, name)
		}
	}
	f.history = append(f.history, "remove "+c.name)
	return nil
}

// joinLocked refuses to start a container whose network container does
// not run.
func (f *fakeRuntime) joinLocked(c *fakeContainer) error {
	if c.netns == "" {
		return nil
	}
	if n := f.containers[c.netns]; n == nil || n.state != "running" {
		return fmt.Errorf("cannot join network of a non running container: %s", c.netns)
	}
	return nil
}

// failSandbox makes RunSandbox fail with err.
func (f *fakeRuntime) failSandbox(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxError = err
}

// sandboxOf is the network the pause container was given.
func (f *fakeRuntime) sandboxOf(name string) docker.Sandbox {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(name)
	if c.sandbox == nil {
		f.t.Fatalf("%s is not a pause container", name)
	}
	return *c.sandbox
}

// netnsOf is the id of the container whose network the container joined.
func (f *fakeRuntime) netnsOf(name string) string {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(name).netns
}

// idOf is the container's id.
func (f *fakeRuntime) idOf(name string) string {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(name).id
}

// leftoverSandbox puts in place the pause container an earlier run of the
// agent made for the task, running or exited.
func (f *fakeRuntime) leftoverSandbox(tk acsmsg.Task, state string) string {
	f.t.Helper()
	s, err := docker.SandboxFor(&tk, docker.Placement{ClusterName: testCluster, Instance: testInstance})
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.createLocked(pauseDockerName(&task{arn: ecs.Val(tk.Arn), spec: &tk}), &container.Config{Labels: s.Labels})
	c.sandbox = &s
	f.startLocked(c)
	if state == "exited" {
		f.exitLocked(c, 137)
	}
	f.history = nil
	return c.id
}
