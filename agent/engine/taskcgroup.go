package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-project/berth/agent/docker"
)

// TaskCgroups is what a runtime offers to bound a task as a whole by its
// task-level cpu and memory (see agent/docker/taskcgroup.go). It is not
// part of Runtime: a runtime without it runs tasks with their containers'
// own limits only, as the engine's fake does unless a test asks for it.
type TaskCgroups interface {
	// CreateTaskCgroup makes the task's cgroup (again: it is idempotent)
	// and returns the cgroup parent of its containers. An error wrapping
	// docker.ErrTaskCgroupsUnsupported means the machine has none.
	CreateTaskCgroup(ctx context.Context, taskID string, limits docker.TaskLimits) (string, error)
	// RemoveTaskCgroup removes it once the task's containers are gone; one
	// that does not exist is no error.
	RemoveTaskCgroup(ctx context.Context, taskID string) error
}

var _ TaskCgroups = (*docker.Runtime)(nil)

// createTaskCgroup makes the cgroup of a task that sets cpu or memory,
// before its first container: a container created before its parent
// existed would run outside the task's limits. It runs for adopted tasks
// too, so that a container created after an agent restart gets the same
// parent.
func (e *Engine) createTaskCgroup(ctx context.Context, t *task) error {
	tc, ok := e.rt.(TaskCgroups)
	if !ok {
		return nil
	}
	limits, ok := docker.TaskLimitsOf(t.spec)
	if !ok {
		return nil
	}
	parent, err := tc.CreateTaskCgroup(ctx, t.id(), limits)
	if errors.Is(err, docker.ErrTaskCgroupsUnsupported) {
		// Said once per agent: it holds for every task on this machine.
		if !e.cgroupsWarned {
			e.cgroupsWarned = true
			e.log.Warn("task-level cpu and memory are not enforced; tasks run with their containers' limits only", "err", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ResourceInitializationError: failed to create the task cgroup: %v", err)
	}
	t.cgroupParent = parent
	return nil
}

// removeTaskCgroup removes a stopped task's cgroup. Every container of the
// task has exited by now, and their own cgroups went with them; one the
// kernel still holds is tried again on the next pass.
func (e *Engine) removeTaskCgroup(ctx context.Context, t *task) {
	tc, ok := e.rt.(TaskCgroups)
	if !ok || t.cgroupRemoved {
		return
	}
	if err := tc.RemoveTaskCgroup(ctx, t.id()); err != nil {
		if !t.cgroupRemoveWarned {
			t.cgroupRemoveWarned = true
			e.log.Warn("could not remove the task cgroup yet; trying again", "task", t.arn, "err", err)
		}
		return
	}
	t.cgroupRemoved = true
}
