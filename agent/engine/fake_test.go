package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// fakeRuntime is an in-memory Docker Engine for the engine's tests. It
// keeps the semantics the engine relies on from *docker.Runtime: Create
// answers the existing container for a name already taken, Start of a
// running container does nothing, Stop blocks until the container is gone
// (SIGKILL after the timeout it is given, on the clock of the test's
// synctest bubble), and every change is announced on Events.
//
// It names containers by their container-name label ("web"), which is
// unique within a test: that keeps the tests' assertions readable.
type fakeRuntime struct {
	t testing.TB // for the test-side helpers only: runtime calls may outlive the test

	mu           sync.Mutex
	containers   map[string]*fakeContainer // by id
	byName       map[string]string         // Docker name -> id
	seq          int                       // for ids
	starts       int                       // for start order
	calls        []fakeCall                // runtime calls, as they were made
	history      []string                  // what happened to containers, in order: "start db", "exit db 1"
	events       chan string
	held         map[string]chan struct{} // container name -> closed when its held start may go on
	stubborn     map[string]bool          // container name -> ignores SIGTERM
	quick        map[string]int           // container name -> exits with this code as soon as it starts
	pullErrors   map[string]error         // image -> why its pull fails
	hostPorts    int                      // host ports handed out, as Docker's ephemeral range
	sandboxError error                    // why RunSandbox fails
}

type fakeContainer struct {
	id, name    string // name is the container-name label
	labels      map[string]string
	state       string // created, running or exited
	exitCode    int
	health      string // "" without a health check
	healthCheck bool
	order       int           // 1 for the first container started, 0 if never started
	done        chan struct{} // closed when it exits, for a Stop waiting on it
	startedAt   time.Time
	finishedAt  time.Time
	bindings    []docker.Binding // published ports, shown while it runs (as Docker's NetworkSettings)
	netns       string           // the id of the container whose network it joins (network mode container:<id>)
	sandbox     *docker.Sandbox  // a pause container's network (fake_awsvpc_test.go)
}

// fakeCall is one call the engine made. Subject is the container name for
// container calls, the image for EnsureImage, the volume for EnsureVolume.
type fakeCall struct {
	op, subject string
	timeout     time.Duration // Stop's
}

func newFakeRuntime(t testing.TB) *fakeRuntime {
	return &fakeRuntime{t: t, containers: map[string]*fakeContainer{}, byName: map[string]string{},
		events: make(chan string, 256), held: map[string]chan struct{}{}, stubborn: map[string]bool{}, quick: map[string]int{}, pullErrors: map[string]error{}}
}

var _ Runtime = (*fakeRuntime)(nil)

// --- the Runtime the engine sees ---

func (f *fakeRuntime) Managed(ctx context.Context) ([]docker.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []docker.State
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		if c := f.containers[id]; c.labels[docker.LabelTaskARN] != "" {
			out = append(out, c.stateLocked())
		}
	}
	return out, nil
}

// Events hands out the one stream; it never breaks.
func (f *fakeRuntime) Events(ctx context.Context) (<-chan string, <-chan error) {
	return f.events, nil
}

func (f *fakeRuntime) Inspect(ctx context.Context, id string) (docker.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return docker.State{}, docker.ErrNotFound
	}
	return c.stateLocked(), nil
}

func (f *fakeRuntime) EnsureImage(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{op: "EnsureImage", subject: ref})
	if err := f.pullErrors[ref]; err != nil {
		return fmt.Errorf("CannotPullContainerError: pull image %s: %v", ref, err)
	}
	return nil
}

func (f *fakeRuntime) EnsureVolume(ctx context.Context, name, driver string, opts, labels map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{op: "EnsureVolume", subject: name})
	return nil
}

func (f *fakeRuntime) Create(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{op: "Create", subject: cfg.Labels[docker.LabelContainerName]})
	c := f.createLocked(name, cfg)
	if mode := string(host.NetworkMode); strings.HasPrefix(mode, "container:") {
		c.netns = strings.TrimPrefix(mode, "container:")
	}
	if c.bindings == nil {
		for _, port := range slices.Sorted(maps.Keys(host.PortBindings)) {
			for _, b := range host.PortBindings[port] {
				hp := int32(32768 + f.hostPorts) // Docker's choice for hostPort 0
				if b.HostPort != "" {
					fmt.Sscan(b.HostPort, &hp)
				} else {
					f.hostPorts++
				}
				c.bindings = append(c.bindings, docker.Binding{BindIP: "0.0.0.0", ContainerPort: int32(port.Int()), HostPort: hp, Protocol: port.Proto()})
			}
		}
	}
	return c.id, nil
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return fmt.Errorf("no such container: %s", id)
	}
	f.calls = append(f.calls, fakeCall{op: "Start", subject: c.name})
	if hold := f.held[c.name]; hold != nil {
		f.mu.Unlock()
		select {
		case <-hold:
		case <-ctx.Done():
		}
		f.mu.Lock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if c.state != "running" {
		if err := f.joinLocked(c); err != nil {
			return err
		}
		f.startLocked(c)
		if code, ok := f.quick[c.name]; ok {
			f.exitLocked(c, code) // before Start returns, as a process that does nothing
		}
	}
	return nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return nil
	}
	f.calls = append(f.calls, fakeCall{op: "Stop", subject: c.name, timeout: timeout})
	if c.state != "running" {
		return nil // as Docker's: stopping a container that does not run changes nothing
	}
	if !f.stubborn[c.name] {
		f.exitLocked(c, 143) // died of the SIGTERM
		return nil
	}
	// As Docker does: wait the timeout for the container to go, then kill it.
	done := c.done
	f.mu.Unlock()
	select {
	case <-time.After(timeout):
	case <-done:
	case <-ctx.Done():
	}
	f.mu.Lock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.state == "running" {
		f.exitLocked(c, 137)
	}
	return nil
}

func (f *fakeRuntime) createLocked(name string, cfg *container.Config) *fakeContainer {
	if id, ok := f.byName[name]; ok {
		return f.containers[id]
	}
	f.seq++
	c := &fakeContainer{id: fmt.Sprintf("c%02d", f.seq), name: cfg.Labels[docker.LabelContainerName],
		labels: maps.Clone(cfg.Labels), state: "created", healthCheck: cfg.Healthcheck != nil}
	f.containers[c.id], f.byName[name] = c, c.id
	f.history = append(f.history, "create "+c.name)
	return c
}

func (f *fakeRuntime) startLocked(c *fakeContainer) {
	f.starts++
	c.state, c.order, c.done, c.startedAt = "running", f.starts, make(chan struct{}), time.Now()
	if c.healthCheck {
		c.health = "UNKNOWN" // Docker's "starting"
	}
	f.history = append(f.history, "start "+c.name)
	f.emitLocked(c)
}

func (f *fakeRuntime) exitLocked(c *fakeContainer, code int) {
	c.state, c.exitCode, c.finishedAt = "exited", code, time.Now()
	close(c.done)
	f.history = append(f.history, fmt.Sprintf("exit %s %d", c.name, code))
	f.emitLocked(c)
}

// emitLocked announces a change, as Docker's start, die and health_status
// events do. A full buffer drops it: the engine's pass each second catches up.
func (f *fakeRuntime) emitLocked(c *fakeContainer) {
	select {
	case f.events <- c.id:
	default:
	}
}

func (c *fakeContainer) stateLocked() docker.State {
	st := docker.State{ID: c.id, Running: c.state == "running", Exited: c.state == "exited", ExitCode: c.exitCode,
		Health: c.health, StartedAt: c.startedAt, FinishedAt: c.finishedAt, Labels: maps.Clone(c.labels)}
	if st.Running {
		st.Bindings = slices.Clone(c.bindings)
	}
	return st
}

// --- what the test does to the containers ---

// leftover puts in place, without recording a call, the container an
// earlier run of an agent of that cluster and instance ("" for a Berth
// that did not label its instance) created for def, in state created,
// running or exited (with code): what a restarted agent finds. It is built
// as the engine builds its own, so it carries the same name and labels.
func (f *fakeRuntime) leftover(tk acsmsg.Task, def acsmsg.Container, cluster, instance, state string, code int) string {
	f.t.Helper()
	cfg, _, err := docker.Build(&tk, &def, docker.Placement{ClusterName: cluster, Instance: instance, Sandbox: "an-earlier-pause"})
	if err != nil {
		f.t.Fatal(err)
	}
	name := dockerName(&task{arn: ecs.Val(tk.Arn), spec: &tk}, &ctr{name: ecs.Val(def.Name)})
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.createLocked(name, cfg)
	if state != "created" {
		f.startLocked(c)
	}
	if state == "exited" {
		f.exitLocked(c, code)
	}
	f.history = nil // the earlier run's doings are not this one's
	return c.id
}

func (f *fakeRuntime) find(name string) *fakeContainer {
	f.t.Helper()
	var found *fakeContainer
	for _, c := range f.containers {
		if c.name == name {
			if found != nil {
				f.t.Fatalf("two containers named %s", name)
			}
			found = c
		}
	}
	if found == nil {
		f.t.Fatalf("no container named %s", name)
	}
	return found
}

// exit makes a running container's process end with code.
func (f *fakeRuntime) exit(name string, code int) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(name); c.state == "running" {
		f.exitLocked(c, code)
	}
}

// setHealth is the outcome of a container's health check.
func (f *fakeRuntime) setHealth(name, health string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(name)
	c.health = health
	f.history = append(f.history, "health "+name+" "+health)
	f.emitLocked(c)
}

// holdStart makes Start of the container block until releaseStart: a
// start still in flight.
func (f *fakeRuntime) holdStart(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[name] = make(chan struct{})
}

func (f *fakeRuntime) releaseStart(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.held[name])
	delete(f.held, name)
}

// ignoreSIGTERM makes the container outlive Stop's SIGTERM: only the
// SIGKILL after the timeout ends it.
func (f *fakeRuntime) ignoreSIGTERM(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stubborn[name] = true
}

// exitOnStart makes the container's process end with code as soon as it
// starts, before Start returns: the engine never sees it running.
func (f *fakeRuntime) exitOnStart(name string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.quick[name] = code
}

func (f *fakeRuntime) failPull(image string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pullErrors[image] = err
}

// --- what the test reads ---

// count is how many times op was called for subject.
func (f *fakeRuntime) count(op, subject string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.op == op && c.subject == subject {
			n++
		}
	}
	return n
}

// stops lists the timeouts Stop was given for the container.
func (f *fakeRuntime) stops(name string) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for _, c := range f.calls {
		if c.op == "Stop" && c.subject == name {
			out = append(out, c.timeout)
		}
	}
	return out
}

// state is the container's state: created, running or exited; "" when it
// does not exist.
func (f *fakeRuntime) state(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.name == name {
			return c.state
		}
	}
	return ""
}

// startOrder is 1 for the first container started, 2 for the second...;
// 0 for one never started.
func (f *fakeRuntime) startOrder(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(name).order
}

// happened reports where in the history an entry is, -1 when it is not.
func (f *fakeRuntime) happened(entry string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Index(f.history, entry)
}

func (f *fakeRuntime) historyString() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprint(f.history)
}
