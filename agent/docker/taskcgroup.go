package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// A task that sets cpu or memory at the task level is bounded as a whole,
// as ECS's agent bounds it: one cgroup per task, made by the agent before
// the task's first container, with the task's limits, and every container
// of the task created with it as its cgroup parent, so that the kernel
// counts the containers together. The stock agent names it /ecs/<task id>;
// Berth names it /berth/<task id>, which cannot collide with a stock agent
// on the same machine, and the task id (a UUID) keeps two Berths on one
// Engine apart.

// TaskLimits are a task's own cpu and memory, as the ACS payload gives
// them.
type TaskLimits struct {
	CPU       float64 // vCPUs (the payload's cpu: task cpu units / 1024); 0 when the task sets none
	MemoryMiB int64   // 0 when the task sets none
	CPUShares int64   // the containers' cpu units summed: the task's weight when it sets no cpu
}

// TaskLimitsOf reads a task's limits; false when it sets neither cpu nor
// memory, and so has no cgroup of its own (its containers are bounded one
// by one, by their own cpu and memory).
func TaskLimitsOf(t *acsmsg.Task) (TaskLimits, bool) {
	l := TaskLimits{CPU: ecs.Val(t.Cpu), MemoryMiB: int64(ecs.Val(t.Memory))}
	for _, c := range t.Containers {
		l.CPUShares += int64(max(ecs.Val(c.Cpu), 0))
	}
	return l, l.CPU > 0 || l.MemoryMiB > 0
}

// TaskCgroupParent is the cgroup parent of a task's containers, in the
// cgroupfs driver's syntax (a path from the hierarchy's root).
func TaskCgroupParent(taskID string) string { return "/berth/" + taskID }

// ErrTaskCgroupsUnsupported means this machine cannot have task cgroups
// (the systemd cgroup driver, a read-only /sys/fs/cgroup, no memory or cpu
// controller): the task runs with its containers' own limits only.
var ErrTaskCgroupsUnsupported = errors.New("task-level cpu and memory are not enforced on this machine")

// cpuPeriodMicros is the CFS period of a task's quota: ECS's agent uses
// 100 ms, and the quota is cpu × period. minCPUQuotaMicros is the kernel's
// smallest.
const (
	cpuPeriodMicros   = 100000
	minCPUQuotaMicros = 1000
)

// taskCgroups is what the runtime knows of the machine's cgroups, learnt
// from the Engine on first use.
type taskCgroups struct {
	mu     sync.Mutex
	learnt bool
	fs     cgroupFS
	err    error // wraps ErrTaskCgroupsUnsupported
}

// CreateTaskCgroup makes (or finds again) the task's cgroup with its
// limits, and returns the cgroup parent its containers are created with.
// An error wrapping ErrTaskCgroupsUnsupported says why this machine has
// none; the task then runs without one.
func (r *Runtime) CreateTaskCgroup(ctx context.Context, taskID string, l TaskLimits) (string, error) {
	cg, err := r.cgroupFS(ctx)
	if err != nil {
		return "", err
	}
	parent := TaskCgroupParent(taskID)
	if err := cg.create(parent, l); err != nil {
		// /sys/fs/cgroup mounted read-only (an agent in a container without
		// it) or not ours to write is a machine without task cgroups, not a
		// task that failed.
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return "", fmt.Errorf("%w: %s is not writable: %v", ErrTaskCgroupsUnsupported, cg.root, err)
		}
		return "", err
	}
	return parent, nil
}

// RemoveTaskCgroup removes the task's cgroup once its containers are gone
// (their own cgroups go with them). None is no error; one still in use is,
// and is removed by a later call.
func (r *Runtime) RemoveTaskCgroup(ctx context.Context, taskID string) error {
	cg, err := r.cgroupFS(ctx)
	if errors.Is(err, ErrTaskCgroupsUnsupported) {
		return nil // none was made
	}
	if err != nil {
		return err
	}
	return cg.remove(TaskCgroupParent(taskID))
}

// oomKilled tells whether an exited container was killed for its memory,
// from what Docker says (dockerSays) and, for a container in a task
// cgroup, the task cgroup. There Docker's word is not enough: on cgroup v1
// the kernel tells every cgroup under the one at its limit, so Docker marks
// every container of the task OOM-killed, those the OOM killer spared too;
// and on cgroup v2 a containerd before 1.5.11 watches only the container's
// own cgroup and misses a kill counted at the parent
// (containerd/containerd#6323), which the task cgroup's memory.events
// still counts. A kill of the container's process is a SIGKILL: exit 137.
func (r *Runtime) oomKilled(ctx context.Context, cgroupParent string, dockerSays bool, exitCode int) bool {
	if !strings.HasPrefix(cgroupParent, TaskCgroupParent("")) {
		return dockerSays
	}
	if exitCode != 137 {
		return false
	}
	if dockerSays {
		return true
	}
	cg, err := r.cgroupFS(ctx)
	if err != nil {
		return false
	}
	n, err := cg.oomKills(cgroupParent)
	return err == nil && n > 0
}

// cgroupFS learns, once, how this machine's cgroups are laid out: the
// Engine's cgroup driver and version say where its containers' cgroups go.
func (r *Runtime) cgroupFS(ctx context.Context) (cgroupFS, error) {
	tc := &r.taskCgroups
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if !tc.learnt {
		info, err := r.cli.Info(ctx)
		if err != nil {
			return cgroupFS{}, fmt.Errorf("docker info: %w", err) // not learnt: the next call asks again
		}
		tc.fs, tc.err = detectCgroupFS("/sys/fs/cgroup", info.CgroupDriver, info.CgroupVersion)
		tc.learnt = true
	}
	return tc.fs, tc.err
}

// detectCgroupFS checks that task cgroups can be made under root for the
// Engine's cgroup driver and version.
func detectCgroupFS(root, driver, version string) (cgroupFS, error) {
	if driver != "cgroupfs" {
		// With the systemd driver a cgroup parent is a slice, whose limits
		// only systemd sets (over D-Bus); Berth does not speak to systemd.
		return cgroupFS{}, fmt.Errorf("%w: the Docker Engine's cgroup driver is %q, and Berth makes task cgroups with the cgroupfs driver only", ErrTaskCgroupsUnsupported, driver)
	}
	cg := cgroupFS{root: root, v2: version == "2"}
	if cg.v2 {
		b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		if err != nil || !hasWords(string(b), "cpu", "memory") {
			return cgroupFS{}, fmt.Errorf("%w: cgroup v2 at %s without the cpu and memory controllers", ErrTaskCgroupsUnsupported, root)
		}
		return cg, nil
	}
	for _, c := range []string{"cpu", "memory"} {
		if st, err := os.Stat(filepath.Join(root, c)); err != nil || !st.IsDir() {
			return cgroupFS{}, fmt.Errorf("%w: no cgroup v1 %s controller at %s", ErrTaskCgroupsUnsupported, c, filepath.Join(root, c))
		}
	}
	return cg, nil
}

func hasWords(s string, words ...string) bool {
	have := strings.Fields(s)
	for _, w := range words {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// cgroupFS writes task cgroups as files under root (/sys/fs/cgroup; a
// temporary directory in tests).
type cgroupFS struct {
	root string
	v2   bool
}

// create makes the cgroup at rel (a cgroup parent such as /berth/<id>) and
// writes the task's limits, as ECS's agent does: a CFS quota of cpu ×
// period when the task sets cpu, else a weight of its containers' cpu
// units; the memory limit when it sets memory, swap included, so that a
// task cannot grow past it into swap. Writing the same limits again (an
// agent restarted) changes nothing.
func (cg cgroupFS) create(rel string, l TaskLimits) error {
	quota := int64(math.Round(l.CPU * cpuPeriodMicros))
	if l.CPU > 0 {
		quota = max(quota, minCPUQuotaMicros)
	}
	shares := max(l.CPUShares, minCPUShares)
	memory := l.MemoryMiB << 20
	if cg.v2 {
		return cg.createV2(rel, quota, shares, memory)
	}
	cpuDir, memDir := filepath.Join(cg.root, "cpu", rel), filepath.Join(cg.root, "memory", rel)
	for _, d := range []string{cpuDir, memDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// Only a cgroup without children can change it; on kernels where the
	// hierarchy is not always on, a parent's limit covers its children only
	// with it. Newer kernels have it always on and ignore the write.
	_ = writeFile(memDir, "memory.use_hierarchy", "1")
	if memory > 0 {
		if err := writeFile(memDir, "memory.limit_in_bytes", strconv.FormatInt(memory, 10)); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(memDir, "memory.memsw.limit_in_bytes")); err == nil { // a kernel with swap accounting
			if err := writeFile(memDir, "memory.memsw.limit_in_bytes", strconv.FormatInt(memory, 10)); err != nil {
				return err
			}
		}
	}
	if quota > 0 {
		if err := writeFile(cpuDir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriodMicros)); err != nil {
			return err
		}
		return writeFile(cpuDir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	return writeFile(cpuDir, "cpu.shares", strconv.FormatInt(shares, 10))
}

func (cg cgroupFS) createV2(rel string, quota, shares, memory int64) error {
	// A cgroup's files for a controller exist only when its parent enables
	// the controller for its children: the root (Docker's own containers
	// need it too) and /berth.
	dir := cg.root
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		for _, c := range []string{"+cpu", "+memory"} {
			if err := writeFile(dir, "cgroup.subtree_control", c); err != nil {
				return err
			}
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if memory > 0 {
		if err := writeFile(dir, "memory.max", strconv.FormatInt(memory, 10)); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
			if err := writeFile(dir, "memory.swap.max", "0"); err != nil {
				return err
			}
		}
	}
	if quota > 0 {
		return writeFile(dir, "cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriodMicros))
	}
	// runc's mapping of cgroup v1 shares [2, 262144] onto v2 weights [1, 10000].
	weight := 1 + ((min(shares, 262144)-2)*9999)/262142
	return writeFile(dir, "cpu.weight", strconv.FormatInt(weight, 10))
}

// remove removes the cgroup at rel in every hierarchy (runc makes a
// container's cgroup parent in all of them, not only cpu and memory). The
// shared /berth stays: another task may be making its cgroup in it.
func (cg cgroupFS) remove(rel string) error {
	dirs := []string{filepath.Join(cg.root, rel)}
	if !cg.v2 {
		dirs = nil
		entries, err := os.ReadDir(cg.root)
		if err != nil {
			return err
		}
		for _, e := range entries {
			dirs = append(dirs, filepath.Join(cg.root, e.Name(), rel))
		}
	}
	var errs []error
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// oomKills is how many processes of the cgroup at rel the kernel's OOM
// killer killed. On cgroup v2 the count includes its children's; on v1 it
// is the cgroup's own processes only (Docker's OOMKilled covers the rest).
func (cg cgroupFS) oomKills(rel string) (int64, error) {
	file := filepath.Join(cg.root, rel, "memory.events")
	if !cg.v2 {
		file = filepath.Join(cg.root, "memory", rel, "memory.oom_control")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "oom_kill" {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}

// writeFile writes one cgroup setting, as the kernel takes it: one write,
// no truncation (a cgroup file cannot be truncated).
func writeFile(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", value, filepath.Join(dir, name), err)
	}
	return nil
}
