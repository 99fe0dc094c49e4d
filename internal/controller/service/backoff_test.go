package service

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

// The launch back-off: after more than 3 tasks in a row have failed, the
// service waits before each launch, 5 s doubling up to 15 minutes.

const eventUnableToStart = "(service web) is unable to consistently start tasks successfully."

// backoffSchedule is the wait after the n-th failed task in a row (index n).
var backoffSchedule = []time.Duration{
	0, 0, 0, 0,
	5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
	160 * time.Second, 320 * time.Second, 640 * time.Second,
	15 * time.Minute, // 1280 s is past the longest wait
	15 * time.Minute,
}

func TestLaunchBackoffDoublesFrom5SecondsTo15MinutesAfter3Failures(t *testing.T) {
	for n, want := range backoffSchedule {
		t.Run(fmt.Sprintf("after %d failed tasks in a row the wait is %v", n, want), func(t *testing.T) {
			if got := launchBackoff(n); got != want {
				t.Fatalf("launchBackoff(%d) = %v, want %v", n, got, want)
			}
		})
	}
	for _, n := range []int{20, 64, 1000, 1 << 30} {
		t.Run(fmt.Sprintf("after %d failed tasks in a row the wait stays 15 minutes", n), func(t *testing.T) {
			if got := launchBackoff(n); got != 15*time.Minute {
				t.Fatalf("launchBackoff(%d) = %v, want 15m", n, got)
			}
		})
	}
}

// failingService is a service of one task whose tasks all fail to start,
// without the circuit breaker, its first task placed.
func failingService(t *testing.T) (*controllertest.Harness, *Controller, string) {
	t.Helper()
	h := controllertest.New(t)
	c := testScheduler(h)
	h.Fleet("c", 1, 4096, 4096)
	createService(h, "c", "web", h.TaskDefinition("web", 128), 1, nil)
	passes(h, c, 10)
	return h, c, h.Service("c", "web").Primary().ID
}

// failThePendingTask fails the one task of the deployment waiting to run,
// and makes the pass that counts it.
func failThePendingTask(t *testing.T, h *controllertest.Harness, c *Controller, d string) *state.Task {
	t.Helper()
	p := pendingTasks(h, "c", d)
	if len(p) != 1 {
		t.Fatalf("%d tasks waiting to run, want 1", len(p))
	}
	failTask(h, "c", p[0].ID, neverRuns)
	pass(c)
	return p[0]
}

func TestTheSchedulerLaunchesNothingBeforeTheBackoffEnds(t *testing.T) {
	h, c, d := failingService(t)
	for n := 1; n < len(backoffSchedule); n++ {
		want := backoffSchedule[n]
		name := fmt.Sprintf("after failed task %d the next task starts at once", n)
		if want > 0 {
			name = fmt.Sprintf("after failed task %d the next task starts %v later, not before", n, want)
		}
		t.Run(name, func(t *testing.T) {
			failedAt := h.Clock.Now().UTC()
			p0 := failThePendingTask(t, h, c, d)
			r := h.Service("c", "web")
			if r.LaunchFailures != n {
				t.Fatalf("launchFailures %d, want %d", r.LaunchFailures, n)
			}
			if want == 0 {
				if r.NextLaunchAt != nil {
					t.Fatalf("nextLaunchAt %v after %d failed tasks, want none", r.NextLaunchAt, n)
				}
				passes(h, c, 10)
				if p := pendingTasks(h, "c", d); len(p) != 1 {
					t.Fatalf("%d tasks started at once, want 1", len(p))
				}
				return
			}
			if r.NextLaunchAt == nil || !r.NextLaunchAt.Equal(failedAt.Add(want)) {
				t.Fatalf("nextLaunchAt %v, want %v", r.NextLaunchAt, failedAt.Add(want))
			}
			before := len(h.Tasks("c", nil))
			if next := pass(c); next != want {
				t.Fatalf("the pass asks to run again in %v, want %v (when the back-off ends)", next, want)
			}
			passes(h, c, 10)
			if after := len(h.Tasks("c", nil)); after != before {
				t.Fatalf("%d tasks started at once in a back-off of %v", after-before, want)
			}
			h.Clock.Advance(want - time.Millisecond)
			// An agent reconnecting makes the scheduler look again before
			// the wake-up it asked for: still nothing may start.
			h.SetAgentConnected("c", p0.InstanceID, true)
			passes(h, c, 10)
			if after := len(h.Tasks("c", nil)); after != before {
				t.Fatalf("%d tasks started %v into a back-off of %v", after-before, want-time.Millisecond, want)
			}
			h.Clock.Advance(time.Millisecond)
			passes(h, c, 10)
			if p := pendingTasks(h, "c", d); len(p) != 1 {
				t.Fatalf("%d tasks started once the back-off of %v ended, want 1", len(p), want)
			}
		})
		if t.Failed() {
			return
		}
		r := h.Service("c", "web")
		if got, want := countEvents(r, eventUnableToStart), min(1, max(0, n-3)); got != want {
			t.Fatalf("%d %q events after %d failed tasks, want %d", got, eventUnableToStart, n, want)
		}
	}
}

func TestAStreakOfFailedTasksEndsWhenTheServiceIsSteady(t *testing.T) {
	h, c, d := failingService(t)
	for range 4 {
		failThePendingTask(t, h, c, d)
		if r := h.Service("c", "web"); r.NextLaunchAt != nil {
			h.Clock.Advance(r.NextLaunchAt.Sub(h.Clock.Now()))
		}
		passes(h, c, 10)
	}
	settle(t, h, c, "c", 10)
	r := h.Service("c", "web")
	if r.SteadyAt == nil || r.LaunchFailures != 0 || r.NextLaunchAt != nil {
		t.Fatalf("steady at %v with launchFailures %d, nextLaunchAt %v; want steady, 0, none", r.SteadyAt, r.LaunchFailures, r.NextLaunchAt)
	}
	// The task running now fails; three more failures are then a new
	// streak's first three: no wait yet.
	running := h.Tasks("c", func(t *state.Task) bool { return t.LastStatus == "RUNNING" })
	if len(running) != 1 {
		t.Fatalf("%d running tasks, want 1", len(running))
	}
	code := int32(1)
	h.Report("c", running[0].ID, "STOPPED", &code)
	pass(c)
	passes(h, c, 10)
	for range 2 {
		failThePendingTask(t, h, c, d)
		passes(h, c, 10)
	}
	if r := h.Service("c", "web"); r.LaunchFailures != 3 || r.NextLaunchAt != nil {
		t.Fatalf("launchFailures %d, nextLaunchAt %v; want 3, none", r.LaunchFailures, r.NextLaunchAt)
	}
	if p := pendingTasks(h, "c", d); len(p) != 1 {
		t.Fatalf("%d tasks started after the third failure of the new streak, want 1", len(p))
	}
}
