package docker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// fakeCgroupTree lays out under a temporary directory the files the kernel
// would show for dirs (each with its files), as mkdir in a cgroup
// filesystem makes them; every file starts empty.
func fakeCgroupTree(t *testing.T, files map[string][]string) string {
	t.Helper()
	root := t.TempDir()
	for dir, names := range files {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(root, dir, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func readSetting(t *testing.T, root, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	v1Memory = []string{"memory.use_hierarchy", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control"}
	v1CPU    = []string{"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"}
	v2Files  = []string{"cgroup.subtree_control", "memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "memory.events"}
)

// TestCgroupV1 writes ECS's task limits as cgroup v1 files: the memory
// limit, swap included, and a CFS quota of cpu × 100 ms, or the
// containers' cpu units as shares when the task sets no cpu.
func TestCgroupV1(t *testing.T) {
	cases := []struct {
		name   string
		limits TaskLimits
		want   map[string]string
	}{
		{name: "cpu and memory: a quota and a memory limit",
			limits: TaskLimits{CPU: 0.25, MemoryMiB: 64, CPUShares: 100},
			want: map[string]string{"memory/berth/t1/memory.limit_in_bytes": "67108864", "memory/berth/t1/memory.memsw.limit_in_bytes": "67108864",
				"cpu/berth/t1/cpu.cfs_period_us": "100000", "cpu/berth/t1/cpu.cfs_quota_us": "25000", "cpu/berth/t1/cpu.shares": ""}},
		{name: "memory only: shares from the containers, no quota",
			limits: TaskLimits{MemoryMiB: 512, CPUShares: 300},
			want:   map[string]string{"memory/berth/t1/memory.limit_in_bytes": "536870912", "cpu/berth/t1/cpu.shares": "300", "cpu/berth/t1/cpu.cfs_quota_us": ""}},
		{name: "cpu only: no memory limit",
			limits: TaskLimits{CPU: 2},
			want:   map[string]string{"memory/berth/t1/memory.limit_in_bytes": "", "cpu/berth/t1/cpu.cfs_quota_us": "200000"}},
		{name: "containers without cpu: Docker's smallest weight",
			limits: TaskLimits{MemoryMiB: 64},
			want:   map[string]string{"cpu/berth/t1/cpu.shares": "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeCgroupTree(t, map[string][]string{"memory/berth/t1": v1Memory, "cpu/berth/t1": v1CPU, "pids/berth/t1": nil, "cpuset": nil})
			cg := cgroupFS{root: root}
			if err := cg.create(TaskCgroupParent("t1"), tc.limits); err != nil {
				t.Fatal(err)
			}
			for file, want := range tc.want {
				if got := readSetting(t, root, file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
		})
	}
}

// TestCgroupV2 writes the same limits as cgroup v2 files, with the cpu and
// memory controllers enabled down to the task's cgroup.
func TestCgroupV2(t *testing.T) {
	root := fakeCgroupTree(t, map[string][]string{"": {"cgroup.subtree_control"}, "berth": {"cgroup.subtree_control"}, "berth/t1": v2Files})
	cg := cgroupFS{root: root, v2: true}
	if err := cg.create(TaskCgroupParent("t1"), TaskLimits{CPU: 0.5, MemoryMiB: 64}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"berth/t1/memory.max": "67108864", "berth/t1/memory.swap.max": "0",
		"berth/t1/cpu.max": "50000 100000", "berth/t1/cpu.weight": "", "berth/cgroup.subtree_control": "+memory"} {
		if got := readSetting(t, root, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if err := cg.create(TaskCgroupParent("t1"), TaskLimits{MemoryMiB: 64, CPUShares: 1024}); err != nil {
		t.Fatal(err)
	}
	if got := readSetting(t, root, "berth/t1/cpu.weight"); got != "39" { // runc's mapping of 1024 shares
		t.Errorf("cpu.weight = %q, want 39", got)
	}
}

// TestCgroupRemove removes the task's cgroup from every v1 hierarchy
// (runc makes it in all of them) and leaves /berth; one already gone is no
// error, one with a child left is.
func TestCgroupRemove(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"memory/berth/t1", "cpu/berth/t1", "pids/berth/t1", "freezer/berth", "cpuset"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	cg := cgroupFS{root: root}
	if err := cg.remove(TaskCgroupParent("t1")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"memory", "cpu", "pids"} {
		if _, err := os.Stat(filepath.Join(root, d, "berth/t1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/berth/t1 is still there (%v)", d, err)
		}
		if _, err := os.Stat(filepath.Join(root, d, "berth")); err != nil {
			t.Errorf("%s/berth went: %v", d, err)
		}
	}
	if err := cg.remove(TaskCgroupParent("t1")); err != nil {
		t.Errorf("removing it again: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "memory/berth/t2/a-container"), 0o755)
	if err := cg.remove(TaskCgroupParent("t2")); err == nil {
		t.Error("a task cgroup with a container's cgroup left was removed")
	}
}

func TestCgroupOOMKills(t *testing.T) {
	root := fakeCgroupTree(t, map[string][]string{"memory/berth/t1": v1Memory, "berth/t1": v2Files})
	os.WriteFile(filepath.Join(root, "memory/berth/t1/memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 0o644)
	os.WriteFile(filepath.Join(root, "berth/t1/memory.events"), []byte("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644)
	for _, cg := range []cgroupFS{{root: root}, {root: root, v2: true}} {
		n, err := cg.oomKills(TaskCgroupParent("t1"))
		want := map[bool]int64{false: 2, true: 1}[cg.v2]
		if err != nil || n != want {
			t.Errorf("v2=%v: %d, %v; want %d", cg.v2, n, err, want)
		}
	}
}

// TestDetectCgroupFS: task cgroups need the cgroupfs driver and the cpu and
// memory controllers; without them the task runs on, unbounded as a whole.
func TestDetectCgroupFS(t *testing.T) {
	v1 := fakeCgroupTree(t, map[string][]string{"memory": nil, "cpu": nil})
	v2 := fakeCgroupTree(t, map[string][]string{"": nil})
	os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	bare := t.TempDir()
	cases := []struct {
		root, driver, version string
		supported             bool
	}{
		{v1, "cgroupfs", "1", true},
		{v2, "cgroupfs", "2", true},
		{v1, "systemd", "1", false},
		{v2, "systemd", "2", false},
		{bare, "cgroupfs", "1", false},
		{bare, "cgroupfs", "2", false},
	}
	for _, tc := range cases {
		_, err := detectCgroupFS(tc.root, tc.driver, tc.version)
		if (err == nil) != tc.supported || (err != nil && !errors.Is(err, ErrTaskCgroupsUnsupported)) {
			t.Errorf("%s, driver %s, cgroup v%s: %v", tc.root, tc.driver, tc.version, err)
		}
		if tc.driver == "systemd" && (err == nil || !strings.Contains(err.Error(), "systemd")) {
			t.Errorf("the systemd driver's error does not say so: %v", err)
		}
	}
}

func TestTaskLimitsOf(t *testing.T) {
	ctr := func(cpu int32) acsmsg.Container { return acsmsg.Container{Cpu: ecs.Ptr(cpu)} }
	if _, ok := TaskLimitsOf(&acsmsg.Task{Containers: []acsmsg.Container{ctr(128)}}); ok {
		t.Error("a task without task-level cpu or memory has limits")
	}
	l, ok := TaskLimitsOf(&acsmsg.Task{Cpu: ecs.Ptr(0.5), Memory: ecs.Ptr(int32(1024)), Containers: []acsmsg.Container{ctr(128), ctr(256), {}}})
	if !ok || l != (TaskLimits{CPU: 0.5, MemoryMiB: 1024, CPUShares: 384}) {
		t.Errorf("limits %+v, %v", l, ok)
	}
}
