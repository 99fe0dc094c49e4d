package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// notFound is the control plane's answer for a task it does not know (one
// an earlier Berth left in Docker): the agent's submit says it with
// ErrRejected, as sending it again would be answered the same.
var notFound = fmt.Errorf("%w: InvalidParameterException: The referenced task was not found.", ErrRejected)

// TestReportsOfOneTaskNeverWaitForAnother runs a task whose reports the
// control plane does not take, and then another: the second is reported
// as soon as it runs, whatever happens to the first's.
func TestReportsOfOneTaskNeverWaitForAnother(t *testing.T) {
	cases := []struct {
		name   string
		answer func(ctx context.Context) error // for the first task's reports
	}{
		{"the first task's report hangs", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"the first task's report fails every time", func(context.Context) error { return errors.New("503 Service Unavailable") }},
		{"the first task is not known to the control plane", func(context.Context) error { return notFound }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				first, second := taskDef("first", containerDef("web")), taskDef("second", containerDef("app"))
				h.setAnswer(func(ctx context.Context, r Report) error {
					if r.TaskARN == *first.Arn {
						return tc.answer(ctx)
					}
					return nil
				})
				h.run()
				h.apply(first)
				h.waitFor("a report of the first task", func() bool { return len(h.attemptsOf(*first.Arn, statusRunning)) > 0 })
				h.apply(second)
				h.waitReport(*second.Arn, statusRunning)
			})
		})
	}
}

// TestReportRetries: a report that fails is sent again, with back-off,
// until the control plane takes it; one it rejects is sent once.
func TestReportRetries(t *testing.T) {
	t.Run("a failing report is retried with back-off until it is taken", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			tk := taskDef("flaky", containerDef("web"))
			h.setAnswer(func(ctx context.Context, r Report) error {
				if len(h.attemptsOf(r.TaskARN, r.Status)) <= 3 {
					return errors.New("503 Service Unavailable")
				}
				return nil
			})
			h.run()
			h.apply(tk)
			h.waitReport(*tk.Arn, statusRunning)
			h.settle()
			tries := h.attemptsOf(*tk.Arn, statusRunning)
			if len(tries) != 4 {
				t.Fatalf("RUNNING was tried %d times; want 4 (3 failures, then taken)", len(tries))
			}
			for i := 2; i < len(tries); i++ {
				if gap, before := tries[i].at.Sub(tries[i-1].at), tries[i-1].at.Sub(tries[i-2].at); gap <= before {
					t.Errorf("retry %d came %v after the one before, which came %v after its own: no back-off", i, gap, before)
				}
			}
		})
	})

	t.Run("a rejected report is not sent again, nor are the task's later ones retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			tk := taskDef("unknown", containerDef("web"))
			h.setAnswer(func(ctx context.Context, r Report) error { return notFound })
			h.run()
			h.apply(tk)
			h.waitFor("the RUNNING report", func() bool { return len(h.attemptsOf(*tk.Arn, statusRunning)) > 0 })
			time.Sleep(time.Minute)
			h.apply(stopped(tk))
			h.waitFor("the STOPPED report", func() bool { return len(h.attemptsOf(*tk.Arn, statusStopped)) > 0 })
			time.Sleep(time.Minute)
			synctest.Wait()
			for _, status := range []string{statusRunning, statusStopped} {
				if n := len(h.attemptsOf(*tk.Arn, status)); n != 1 {
					t.Errorf("%s was sent %d times in a minute; want once", status, n)
				}
			}
			if h.f.state("web") != "exited" {
				t.Errorf("web is %s; the task was stopped all the same", h.f.state("web"))
			}
		})
	})
}

// TestRunningIsReportedBeforeStopped: a task whose containers ran reports
// RUNNING before STOPPED, however short their run, so that the control
// plane records when it started and that its essential container exited
// (not that it failed to start).
func TestRunningIsReportedBeforeStopped(t *testing.T) {
	cases := []struct {
		name    string
		sidecar bool // the task has a non-essential sidecar too
		setup   func(h *harness, tk acsmsg.Task)
		started func(h *harness) // once main has exited
		fails   int              // how many times the control plane fails the first RUNNING report
	}{
		{
			name:  "a container that exits before the agent looks at it",
			setup: func(h *harness, tk acsmsg.Task) { h.f.exitOnStart("main", 0) },
		},
		{
			name:  "a container that exits at once, and a RUNNING report that fails twice",
			setup: func(h *harness, tk acsmsg.Task) { h.f.exitOnStart("main", 0) },
			fails: 2,
		},
		{
			name:    "an essential container that exits at once while its sidecar is still starting",
			sidecar: true,
			setup: func(h *harness, tk acsmsg.Task) {
				h.f.exitOnStart("main", 0)
				h.f.holdStart("sidecar")
			},
			started: func(h *harness) { h.f.releaseStart("sidecar") },
		},
		{
			name: "a container that exited while the agent was down",
			setup: func(h *harness, tk acsmsg.Task) {
				h.f.leftover(tk, tk.Containers[0], testCluster, testInstance, "exited", 0)
				if err := h.e.Adopt(h.t.Context()); err != nil {
					h.t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := taskDef("quick", containerDef("main"))
				want := map[string]string{"main": "STOPPED:0"}
				if tc.sidecar {
					tk.Containers = append(tk.Containers, containerDef("sidecar", nonEssential))
					want["sidecar"] = "STOPPED:143"
				}
				arn := *tk.Arn
				var mu sync.Mutex
				failed := 0
				h.setAnswer(func(ctx context.Context, r Report) error {
					mu.Lock()
					defer mu.Unlock()
					if r.Status == statusRunning && failed < tc.fails {
						failed++
						return errors.New("connection refused")
					}
					return nil
				})
				tc.setup(h, tk)
				h.run()
				h.apply(tk)
				if tc.started != nil {
					h.waitFor("main to exit", func() bool { return h.f.state("main") == "exited" })
					h.settle()
					tc.started(h)
				}
				h.waitReport(arn, statusStopped)
				h.settle()

				var order []string
				for _, r := range h.reportsOf(arn) {
					order = append(order, r.Status)
				}
				if !slices.Equal(slices.Compact(order), []string{statusRunning, statusStopped}) {
					t.Fatalf("reports %s; want RUNNING, then STOPPED", h.describe())
				}
				r := h.last(arn)
				if r.Reason != "Essential container in task exited" || !maps.Equal(statuses(r), want) {
					t.Errorf("STOPPED report (%q) %v; want (%q) %v", r.Reason, statuses(r), "Essential container in task exited", want)
				}
				if stops := h.attemptsOf(arn, statusStopped); len(stops) > 0 && stops[0].at.Before(h.attemptsOf(arn, statusRunning)[tc.fails].at) {
					t.Errorf("STOPPED was sent before RUNNING was taken")
				}
				if h.f.count("Start", "main") > 1 {
					t.Errorf("main was started %d times", h.f.count("Start", "main"))
				}
			})
		})
	}
}

// TestBindingsAreReportedWhileTheEngineObserves runs a container with a
// port mapping for a while: the engine observes it every second while
// earlier reports of it are read on the reporter's goroutine (run with
// -race).
func TestBindingsAreReportedWhileTheEngineObserves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		web := containerDef("web", func(c *acsmsg.Container) {
			c.PortMappings = []acsmsg.PortMapping{{ContainerPort: ecs.Ptr(int32(8080))}}
		})
		tk := taskDef("ports", web, containerDef("sidecar", nonEssential))
		h.run()
		h.apply(tk)
		h.waitReport(*tk.Arn, statusRunning)
		time.Sleep(3 * time.Second) // three full passes observe web again
		h.f.exit("sidecar", 0)      // and one more report reads its bindings
		h.waitFor("the sidecar's exit", func() bool { return statuses(h.last(*tk.Arn))["sidecar"] == "STOPPED:0" })
		h.settle()
		for _, c := range h.last(*tk.Arn).Containers {
			if c.Name != "web" {
				continue
			}
			if len(c.Bindings) != 1 || ecs.Val(c.Bindings[0].ContainerPort) != 8080 || ecs.Val(c.Bindings[0].HostPort) != 32768 {
				t.Fatalf("web's bindings %+v; want 8080 on host port 32768", c.Bindings)
			}
			return
		}
		t.Fatalf("web not reported: %s", h.describe())
	})
}
