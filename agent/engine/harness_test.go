package engine

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// The engine's tests run it in a synctest bubble, over the fake runtime:
// its pass each second, Docker's stop timeouts and the tests' waits all
// run on the bubble's clock, and synctest.Wait tells when the engine has
// done all it will do. So a test can say "app was not created" and mean
// it, without sleeping and hoping.

const (
	testCluster  = "default"
	testInstance = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123456789abcdef"
)

// harness is one engine over one fake, and the reports it made.
type harness struct {
	t *testing.T
	f *fakeRuntime
	e *Engine

	mu       sync.Mutex
	reports  []Report // the reports the control plane took
	attempts []attempt
	answer   func(ctx context.Context, r Report) error // the control plane's answer; nil takes every report
}

// attempt is one call of the reporter.
type attempt struct {
	Report
	at time.Time
}

// newHarness must be called inside the bubble: the engine's channels
// belong to it.
func newHarness(t *testing.T) *harness {
	h := &harness{t: t, f: newFakeRuntime(t)}
	h.e = New(h.f, testCluster, testInstance, h.record, slog.New(slog.DiscardHandler))
	return h
}

// record is the reporter. It copies the report, bindings included, as the
// agent's submit reads it: on the reporter's goroutine, with no lock of the
// engine's.
func (h *harness) record(ctx context.Context, r Report) error {
	r.Containers = slices.Clone(r.Containers)
	for i := range r.Containers {
		r.Containers[i].Bindings = slices.Clone(r.Containers[i].Bindings)
	}
	h.mu.Lock()
	h.attempts = append(h.attempts, attempt{Report: r, at: time.Now()})
	answer := h.answer
	h.mu.Unlock()
	if answer != nil {
		if err := answer(ctx, r); err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, r)
	return nil
}

// setAnswer sets how the control plane answers reports from now on.
func (h *harness) setAnswer(answer func(ctx context.Context, r Report) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answer = answer
}

// attemptsOf lists the reporter's calls for the task with that status.
func (h *harness) attemptsOf(arn, status string) []attempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []attempt
	for _, a := range h.attempts {
		if a.TaskARN == arn && a.Status == status {
			out = append(out, a)
		}
	}
	return out
}

// run starts the engine until the test ends (the bubble's context ends
// with it, so nothing outlives the test).
func (h *harness) run() { go h.e.Run(h.t.Context()) }

func (h *harness) apply(tasks ...acsmsg.Task) { h.e.Apply(tasks) }

// settle lets the engine do all it will: whatever it starts now, and two
// passes of its ticker.
func (h *harness) settle() {
	synctest.Wait()
	time.Sleep(2 * time.Second)
	synctest.Wait()
}

// waitFor waits, up to 10 s of the bubble's clock, for cond.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		synctest.Wait()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("still waiting for %s after 10 s; reports: %s; containers: %s", what, h.describe(), h.f.historyString())
		}
	}
}

// waitReport waits for a report of the task with that status and returns it.
func (h *harness) waitReport(arn, status string) Report {
	h.t.Helper()
	var found Report
	h.waitFor(arn+" reported "+status, func() bool {
		for _, r := range h.reportsOf(arn) {
			if r.Status == status {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

func (h *harness) reportsOf(arn string) []Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Report
	for _, r := range h.reports {
		if r.TaskARN == arn {
			out = append(out, r)
		}
	}
	return out
}

// last is the task's latest report.
func (h *harness) last(arn string) Report {
	h.t.Helper()
	rs := h.reportsOf(arn)
	if len(rs) == 0 {
		h.t.Fatalf("%s was never reported", arn)
	}
	return rs[len(rs)-1]
}

// describe is the reports so far, for failure messages.
func (h *harness) describe() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.reports {
		b.WriteString("[" + r.Status)
		if r.Reason != "" {
			b.WriteString(" (" + r.Reason + ")")
		}
		for _, c := range r.Containers {
			b.WriteString(" " + c.Name + "=" + containerStatus(c))
		}
		b.WriteString("] ")
	}
	return b.String()
}

// containerStatus reads RUNNING, or STOPPED:code (STOPPED:- without one).
func containerStatus(c ContainerReport) string {
	if c.Status != statusStopped {
		return c.Status
	}
	if c.ExitCode == nil {
		return "STOPPED:-"
	}
	return "STOPPED:" + strconv.Itoa(int(*c.ExitCode))
}

// statuses maps each reported container to containerStatus.
func statuses(r Report) map[string]string {
	out := map[string]string{}
	for _, c := range r.Containers {
		out[c.Name] = containerStatus(c)
	}
	return out
}

func runtimeID(r Report, name string) string {
	for _, c := range r.Containers {
		if c.Name == name {
			return c.RuntimeID
		}
	}
	return ""
}

// --- task definitions ---

const arnPrefix = "arn:aws:ecs:us-east-1:000000000000:task/default/"

// taskDef is a RUNNING payload of family web, version 1.
func taskDef(id string, containers ...acsmsg.Container) acsmsg.Task {
	return acsmsg.Task{Arn: ecs.Ptr(arnPrefix + id), Family: ecs.Ptr("web"), Version: ecs.Ptr("1"),
		DesiredStatus: ecs.Ptr(statusRunning), Containers: containers}
}

// stopped is the same task, desired STOPPED.
func stopped(tk acsmsg.Task) acsmsg.Task {
	tk.DesiredStatus = ecs.Ptr(statusStopped)
	return tk
}

// containerDef is a container running image name:1, edited by opts.
func containerDef(name string, opts ...func(*acsmsg.Container)) acsmsg.Container {
	c := acsmsg.Container{Name: ecs.Ptr(name), Image: ecs.Ptr(name + ":1")}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func nonEssential(c *acsmsg.Container) { c.Essential = ecs.Ptr(false) }

func essential(c *acsmsg.Container) { c.Essential = ecs.Ptr(true) }

// withHealthCheck gives the container a Docker health check, as ECS passes
// one: in dockerConfig.config.
func withHealthCheck(c *acsmsg.Container) {
	c.DockerConfig = &acsmsg.DockerConfig{Config: ecs.Ptr(`{"Healthcheck":{"Test":["CMD","true"]}}`)}
}

func dependsOn(name string, cond acsmsg.ContainerCondition) func(*acsmsg.Container) {
	return func(c *acsmsg.Container) {
		c.DependsOn = append(c.DependsOn, acsmsg.ContainerDependency{ContainerName: ecs.Ptr(name), Condition: cond})
	}
}

func stopTimeout(seconds int32) func(*acsmsg.Container) {
	return func(c *acsmsg.Container) { c.StopTimeout = ecs.Ptr(seconds) }
}
