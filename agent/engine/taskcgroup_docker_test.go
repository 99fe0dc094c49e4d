package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
	"github.com/berth-project/berth/internal/berthtest"
)

// These tests run the engine over the real Docker Engine: the kernel, not
// a fake, decides what a task's cgroup holds. They need a Docker Engine
// with the cgroupfs driver and a writable /sys/fs/cgroup (the agent runs as
// root); without them they skip, or fail under CI=true.

// realEngine is an engine over the local Docker Engine, for one task of
// its own (its ARN, its container instance), with the reports it made.
type realEngine struct {
	t    *testing.T
	rt   *docker.Runtime
	e    *Engine
	arn  string
	id   string
	mu   sync.Mutex
	last map[string]Report // by status
}

func newRealEngine(t *testing.T) *realEngine {
	cli := berthtest.DockerClient(t)
	berthtest.BuildBusyboxImage(t)
	rt, err := docker.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	b := make([]byte, 16)
	rand.Read(b)
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	// A machine without task cgroups (the systemd driver, a read-only
	// /sys/fs/cgroup) cannot show what these tests look for.
	if _, err := rt.CreateTaskCgroup(context.Background(), id, docker.TaskLimits{MemoryMiB: 64}); errors.Is(err, docker.ErrTaskCgroupsUnsupported) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: failing instead of skipping)", err)
		}
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveTaskCgroup(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	re := &realEngine{t: t, rt: rt, id: id, arn: "arn:aws:ecs:us-east-1:000000000000:task/berth-test/" + id, last: map[string]Report{}}
	instance := "arn:aws:ecs:us-east-1:000000000000:container-instance/berth-test/" + id
	re.e = New(rt, "berth-test", instance, re.record, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	go re.e.Run(ctx)
	t.Cleanup(func() {
		cancel()
		// Only this test's containers: other Berths run on this Engine.
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelTaskARN+"="+re.arn))})
		for _, c := range list {
			cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
		rt.RemoveTaskCgroup(context.Background(), id)
	})
	return re
}

func (re *realEngine) record(ctx context.Context, r Report) error {
	re.mu.Lock()
	defer re.mu.Unlock()
	re.last[r.Status] = r
	return nil
}

// wait waits for cond, for as long as a slow shared machine may need; the
// test is about what happens, not how soon.
func (re *realEngine) wait(what string, cond func() bool) {
	re.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			re.t.Fatalf("still waiting for %s", what)
		}
	}
}

func (re *realEngine) waitReport(status string) Report {
	re.t.Helper()
	var r Report
	re.wait("a "+status+" report", func() bool {
		re.mu.Lock()
		defer re.mu.Unlock()
		var ok bool
		r, ok = re.last[status]
		return ok
	})
	return r
}

func (re *realEngine) task(cpu float64, memory int32, containers ...acsmsg.Container) acsmsg.Task {
	tk := acsmsg.Task{Arn: ecs.Ptr(re.arn), Family: ecs.Ptr("cgroup-test"), Version: ecs.Ptr("1"),
		DesiredStatus: ecs.Ptr(statusRunning), Containers: containers}
	if cpu > 0 {
		tk.Cpu = ecs.Ptr(cpu)
	}
	if memory > 0 {
		tk.Memory = ecs.Ptr(memory)
	}
	return tk
}

func busyboxContainer(name string, command ...string) acsmsg.Container {
	return acsmsg.Container{Name: ecs.Ptr(name), Image: ecs.Ptr(berthtest.BusyboxImage), EntryPoint: []string{"/bin/busybox"}, Command: command}
}

// taskCgroupDir is where the task's memory cgroup is on this machine.
func taskCgroupDir(id string) (dir string, v2 bool) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return filepath.Join("/sys/fs/cgroup/berth", id), true
	}
	return filepath.Join("/sys/fs/cgroup/memory/berth", id), false
}

func cgroupSetting(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the task cgroup: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestTaskLimitsOnDocker: a task within its task-level memory runs in a
// cgroup of its own that holds the task's memory limit and cpu quota, and
// the cgroup is gone once the task stopped.
func TestTaskLimitsOnDocker(t *testing.T) {
	re := newRealEngine(t)
	tk := re.task(0.5, 64, busyboxContainer("app", "sleep", "3600"))
	tk.Containers[0].StopTimeout = ecs.Ptr(int32(1)) // busybox sleep as PID 1 ignores SIGTERM
	re.e.Apply([]acsmsg.Task{tk})
	r := re.waitReport(statusRunning)

	ctr, err := re.rt.Client().ContainerInspect(context.Background(), r.Containers[0].RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/berth/" + re.id; ctr.HostConfig.CgroupParent != want {
		t.Errorf("the container's cgroup parent is %q, want %q", ctr.HostConfig.CgroupParent, want)
	}
	dir, v2 := taskCgroupDir(re.id)
	if v2 {
		if got := cgroupSetting(t, filepath.Join(dir, "memory.max")); got != "67108864" {
			t.Errorf("memory.max = %s, want 64 MiB", got)
		}
		if got := cgroupSetting(t, filepath.Join(dir, "cpu.max")); got != "50000 100000" {
			t.Errorf("cpu.max = %s, want half a CPU", got)
		}
	} else {
		if got := cgroupSetting(t, filepath.Join(dir, "memory.limit_in_bytes")); got != "67108864" {
			t.Errorf("memory.limit_in_bytes = %s, want 64 MiB", got)
		}
		cpuDir := filepath.Join("/sys/fs/cgroup/cpu/berth", re.id)
		if got := cgroupSetting(t, filepath.Join(cpuDir, "cpu.cfs_quota_us")); got != "50000" {
			t.Errorf("cpu.cfs_quota_us = %s, want half of the 100 ms period", got)
		}
		// The container's own cgroup is inside the task's.
		if _, err := os.Stat(filepath.Join(dir, ctr.ID)); err != nil {
			t.Errorf("the container's cgroup is not in the task's: %v", err)
		}
	}

	re.e.Stop([]string{re.arn})
	re.waitReport(statusStopped)
	re.wait("the task cgroup to go", func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
}

// TestTaskOutOfMemoryOnDocker: a task whose container holds more than the
// task's memory (a tmpfs file is charged to the cgroup, and cannot be
// swapped out or dropped) is killed by the kernel, and reported as ECS
// reports it: the container OutOfMemoryError with 137, the task stopped as
// for any essential container's exit. Its container's own memory limit is
// larger, so only the task's limit can stop it: without it, the container
// writes its 128 MiB and exits 0. The sidecar, which the agent then stops,
// is not reported OOM-killed.
func TestTaskOutOfMemoryOnDocker(t *testing.T) {
	re := newRealEngine(t)
	hog := busyboxContainer("hog", "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=128")
	hog.Memory = ecs.Ptr(int32(512))
	hog.LinuxParameters = &acsmsg.LinuxParameters{SharedMemorySize: ecs.Ptr(int32(256))}
	hog.DependsOn = []acsmsg.ContainerDependency{{ContainerName: ecs.Ptr("sidecar"), Condition: acsmsg.ContainerConditionStart}}
	sidecar := busyboxContainer("sidecar", "sleep", "3600")
	sidecar.Essential, sidecar.StopTimeout = ecs.Ptr(false), ecs.Ptr(int32(1))
	re.e.Apply([]acsmsg.Task{re.task(0, 64, hog, sidecar)})

	r := re.waitReport(statusStopped)
	if r.Reason != "Essential container in task exited" {
		t.Errorf("the task's reason is %q", r.Reason)
	}
	for _, c := range r.Containers {
		code := "-"
		if c.ExitCode != nil {
			code = fmt.Sprint(*c.ExitCode)
		}
		switch c.Name {
		case "hog":
			if code != "137" || c.Reason != "OutOfMemoryError: Container killed due to memory usage" {
				t.Errorf("hog: exit %s, reason %q; want 137 and ECS's OutOfMemoryError", code, c.Reason)
			}
		case "sidecar":
			if strings.Contains(c.Reason, "OutOfMemory") {
				t.Errorf("the sidecar the agent stopped is reported %q", c.Reason)
			}
		}
	}
	dir, _ := taskCgroupDir(re.id)
	re.wait("the task cgroup to go", func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
}
