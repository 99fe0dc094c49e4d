package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/docker/docker/api/types/container"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// cgroupFake is the fake runtime with task cgroups: it records what the
// engine asks of them and the cgroup parent each container is created
// with, and shows the containers named in oom as Docker shows a container
// of a task whose cgroup hit its limit (OOMKilled, once exited).
type cgroupFake struct {
	*fakeRuntime
	createErr error // CreateTaskCgroup's answer

	mu      sync.Mutex
	log     []string          // "create <task id> cpu=.. mem=..", "remove <task id>", "container <name> in <parent>"
	parents map[string]string // task id -> the parent of a cgroup that exists
	oom     map[string]bool   // container name -> Docker says OOMKilled
}

var _ TaskCgroups = (*cgroupFake)(nil)

func newCgroupHarness(t *testing.T) (*harness, *cgroupFake) {
	h := &harness{t: t, f: newFakeRuntime(t)}
	cf := &cgroupFake{fakeRuntime: h.f, parents: map[string]string{}, oom: map[string]bool{}}
	h.e = New(cf, testCluster, testInstance, h.record, slog.New(slog.DiscardHandler))
	return h, cf
}

func (cf *cgroupFake) CreateTaskCgroup(ctx context.Context, taskID string, l docker.TaskLimits) (string, error) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.createErr != nil {
		return "", cf.createErr
	}
	cf.log = append(cf.log, fmt.Sprintf("create %s cpu=%g mem=%d shares=%d", taskID, l.CPU, l.MemoryMiB, l.CPUShares))
	cf.parents[taskID] = docker.TaskCgroupParent(taskID)
	return cf.parents[taskID], nil
}

func (cf *cgroupFake) RemoveTaskCgroup(ctx context.Context, taskID string) error {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.log = append(cf.log, "remove "+taskID)
	delete(cf.parents, taskID)
	return nil
}

func (cf *cgroupFake) Create(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig) (string, error) {
	cf.mu.Lock()
	cf.log = append(cf.log, "container "+cfg.Labels[docker.LabelContainerName]+" in "+host.CgroupParent)
	cf.mu.Unlock()
	return cf.fakeRuntime.Create(ctx, name, cfg, host)
}

func (cf *cgroupFake) Inspect(ctx context.Context, id string) (docker.State, error) {
	st, err := cf.fakeRuntime.Inspect(ctx, id)
	cf.mu.Lock()
	defer cf.mu.Unlock()
	st.OOMKilled = st.Exited && cf.oom[st.Labels[docker.LabelContainerName]]
	return st, err
}

func (cf *cgroupFake) events() []string {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return slices.Clone(cf.log)
}

func (cf *cgroupFake) exists(taskID string) bool {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.parents[taskID] != ""
}

func withTaskLimits(cpu float64, memory int32) func(*acsmsg.Task) {
	return func(tk *acsmsg.Task) { tk.Cpu, tk.Memory = ecs.Ptr(cpu), ecs.Ptr(memory) }
}

// TestTaskCgroup: a task that sets cpu or memory gets its cgroup before
// its first container, every container of it is created in it, and it is
// removed once the task stopped; a task that sets neither has none.
func TestTaskCgroup(t *testing.T) {
	withCPU := func(units int32) func(*acsmsg.Container) {
		return func(c *acsmsg.Container) { c.Cpu = ecs.Ptr(units) }
	}
	cases := []struct {
		name   string
		limits func(*acsmsg.Task)
		want   []string
	}{
		{
			name:   "a task with cpu and memory is bounded as a whole, and its cgroup goes when it stops",
			limits: withTaskLimits(0.5, 64),
			want: []string{"create limited cpu=0.5 mem=64 shares=300", "container web in /berth/limited",
				"container sidecar in /berth/limited", "remove limited"},
		},
		{
			name:   "a task with memory only is weighted by its containers' cpu",
			limits: withTaskLimits(0, 64),
			want: []string{"create limited cpu=0 mem=64 shares=300", "container web in /berth/limited",
				"container sidecar in /berth/limited", "remove limited"},
		},
		{
			name:   "a task with neither has no cgroup of its own",
			limits: func(*acsmsg.Task) {},
			want:   []string{"container web in ", "container sidecar in ", "remove limited"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, cf := newCgroupHarness(t)
				tk := taskDef("limited", containerDef("web", withCPU(256)),
					containerDef("sidecar", withCPU(44), dependsOn("web", acsmsg.ContainerConditionStart)))
				tc.limits(&tk)
				h.run()
				h.apply(tk)
				h.waitReport(*tk.Arn, statusRunning)
				h.apply(stopped(tk))
				h.waitReport(*tk.Arn, statusStopped)
				h.settle()
				if got := cf.events(); !slices.Equal(got, tc.want) {
					t.Errorf("task cgroup calls:\n got %q\nwant %q", got, tc.want)
				}
				if cf.exists("limited") {
					t.Error("the task cgroup is still there after the task stopped")
				}
			})
		})
	}
}

// TestTaskCgroupNotPossible: a machine without task cgroups runs the task
// with its containers' limits; a task cgroup that cannot be made fails its
// task before any container is created, as ECS's agent fails a task whose
// cgroup resource it cannot create.
func TestTaskCgroupNotPossible(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		want   string
		reason string
	}{
		{name: "a machine without task cgroups runs the task anyway",
			err: fmt.Errorf("%w: the Docker Engine's cgroup driver is \"systemd\"", docker.ErrTaskCgroupsUnsupported), want: statusRunning},
		{name: "a task cgroup that cannot be made stops the task",
			err: errors.New("write 1 to memory.limit_in_bytes: device or resource busy"), want: statusStopped,
			reason: "ResourceInitializationError: failed to create the task cgroup: write 1 to memory.limit_in_bytes: device or resource busy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, cf := newCgroupHarness(t)
				cf.createErr = tc.err
				tk := taskDef("limited", containerDef("web"))
				withTaskLimits(1, 128)(&tk)
				h.run()
				h.apply(tk)
				r := h.waitReport(*tk.Arn, tc.want)
				if r.Reason != tc.reason {
					t.Errorf("reason %q, want %q", r.Reason, tc.reason)
				}
				created := h.f.count("Create", "web") > 0
				if created != (tc.want == statusRunning) {
					t.Errorf("web created: %v; calls: %q", created, cf.events())
				}
			})
		})
	}
}

// TestTaskOutOfMemory: the container the kernel killed for the task's
// memory is reported as ECS reports it, OutOfMemoryError and 137, and the
// task stops as for any essential container's exit. Docker also marks
// OOM-killed the task's other containers (the kernel tells the whole task
// cgroup), those the agent then stops as well: they are not reported so.
func TestTaskOutOfMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, cf := newCgroupHarness(t)
		h.f.ignoreSIGTERM("sidecar")
		cf.oom["web"], cf.oom["sidecar"] = true, true
		tk := taskDef("hungry", containerDef("web"), containerDef("sidecar", nonEssential, stopTimeout(2)))
		withTaskLimits(0.25, 64)(&tk)
		h.run()
		h.apply(tk)
		h.waitReport(*tk.Arn, statusRunning)
		h.f.exit("web", 137)
		r := h.waitReport(*tk.Arn, statusStopped)
		if r.Reason != "Essential container in task exited" {
			t.Errorf("task reason %q", r.Reason)
		}
		want := map[string]string{
			"web":     "STOPPED:137 OutOfMemoryError: Container killed due to memory usage",
			"sidecar": "STOPPED:137 ",
		}
		for _, c := range r.Containers {
			if got := containerStatus(c) + " " + c.Reason; got != want[c.Name] {
				t.Errorf("%s: %q, want %q", c.Name, got, want[c.Name])
			}
		}
	})
}
