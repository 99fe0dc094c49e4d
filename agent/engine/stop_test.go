package engine

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
)

// TestEssentialContainerExit runs web and a non-essential sidecar: when an
// essential container is done, the rest of the task is stopped and the
// task reports STOPPED with ECS's reason; a non-essential one is let go.
func TestEssentialContainerExit(t *testing.T) {
	cases := []struct {
		name   string
		web    []func(*acsmsg.Container)
		before func(f *fakeRuntime) // before the payload
		act    func(f *fakeRuntime) // once the task runs; nil: it never runs
		want   string
		reason string
		states map[string]string
		stops  []string // containers the engine must stop, once each; no other
	}{
		{
			name: "an essential container (ECS's default) that exits stops the others and the task",
			act:  func(f *fakeRuntime) { f.exit("web", 1) },
			want: statusStopped, reason: "Essential container in task exited",
			states: map[string]string{"web": "STOPPED:1", "sidecar": "STOPPED:143"}, stops: []string{"sidecar"},
		},
		{
			name: "an essential container that exits 0 stops the task too",
			web:  []func(*acsmsg.Container){essential},
			act:  func(f *fakeRuntime) { f.exit("web", 0) },
			want: statusStopped, reason: "Essential container in task exited",
			states: map[string]string{"web": "STOPPED:0", "sidecar": "STOPPED:143"}, stops: []string{"sidecar"},
		},
		{
			name: "a non-essential container that exits leaves the task running",
			act:  func(f *fakeRuntime) { f.exit("sidecar", 3) },
			want: statusRunning, states: map[string]string{"web": "RUNNING", "sidecar": "STOPPED:3"},
		},
		{
			name:   "an essential container that cannot be pulled stops the task with the pull's error",
			before: func(f *fakeRuntime) { f.failPull("web:1", errors.New("manifest unknown")) },
			want:   statusStopped, reason: "CannotPullContainerError: pull image web:1: manifest unknown",
			states: map[string]string{"web": "STOPPED:-", "sidecar": "STOPPED:143"}, stops: []string{"sidecar"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := taskDef("exits", containerDef("web", tc.web...), containerDef("sidecar", nonEssential))
				arn := *tk.Arn
				if tc.before != nil {
					tc.before(h.f)
				}
				h.run()
				h.apply(tk)
				if tc.act != nil {
					h.waitReport(arn, statusRunning)
					tc.act(h.f)
				}
				h.waitFor("the task to settle as "+tc.want, func() bool {
					r := h.reportsOf(arn)
					return len(r) > 0 && maps.Equal(statuses(r[len(r)-1]), tc.states)
				})
				h.settle()

				r := h.last(arn)
				if r.Status != tc.want || r.Reason != tc.reason {
					t.Errorf("task %s (%q); want %s (%q); reports: %s", r.Status, r.Reason, tc.want, tc.reason, h.describe())
				}
				for _, name := range []string{"web", "sidecar"} {
					if got, want := len(h.f.stops(name)), wantCalls(tc.stops, name); got != want {
						t.Errorf("%s stopped %d times; want %d", name, got, want)
					}
				}
				if tc.want == statusRunning && slices.ContainsFunc(h.reportsOf(arn), func(r Report) bool { return r.Status == statusStopped }) {
					t.Errorf("the task was reported STOPPED: %s", h.describe())
				}
			})
		})
	}
}

// TestStopTimeouts stops a running task. The engine gives Docker each
// container's stopTimeout (ECS's 30 s without one) and Docker sends
// SIGKILL once it is over; until the container is gone the task is not
// STOPPED. The fake's SIGKILL runs on the bubble's clock, which the test
// moves.
func TestStopTimeouts(t *testing.T) {
	cases := []struct {
		name     string
		web      []func(*acsmsg.Container)
		stubborn bool // web ignores SIGTERM
		viaStop  bool // the control plane stops it by Stop (a stop verification), not a STOPPED payload
		timeout  time.Duration
		code     string // web's exit as reported
	}{
		{name: "a container's stopTimeout is what Docker is given", web: []func(*acsmsg.Container){stopTimeout(7)},
			timeout: 7 * time.Second, code: "STOPPED:143"},
		{name: "a container without stopTimeout gets ECS's 30 seconds",
			timeout: 30 * time.Second, code: "STOPPED:143"},
		{name: "a stop verification gives the same stopTimeout", web: []func(*acsmsg.Container){stopTimeout(7)}, viaStop: true,
			timeout: 7 * time.Second, code: "STOPPED:143"},
		{name: "a container that ignores SIGTERM keeps its task RUNNING until it is killed after its stopTimeout",
			web: []func(*acsmsg.Container){stopTimeout(5)}, stubborn: true,
			timeout: 5 * time.Second, code: "STOPPED:137"},
		{name: "a container that ignores SIGTERM without stopTimeout is killed after 30 seconds", stubborn: true,
			timeout: 30 * time.Second, code: "STOPPED:137"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := taskDef("stops", containerDef("web", tc.web...))
				arn := *tk.Arn
				if tc.stubborn {
					h.f.ignoreSIGTERM("web")
				}
				h.run()
				h.apply(tk)
				h.waitReport(arn, statusRunning)
				asked := time.Now()
				if tc.viaStop {
					h.e.Stop([]string{arn})
				} else {
					h.apply(stopped(tk))
				}
				synctest.Wait()
				if got := h.f.stops("web"); !slices.Equal(got, []time.Duration{tc.timeout}) {
					t.Fatalf("Docker was asked to stop web with timeouts %v; want [%v]", got, tc.timeout)
				}

				if tc.stubborn {
					// Just short of the timeout: web still runs, and so does its task.
					time.Sleep(time.Until(asked.Add(tc.timeout - time.Millisecond)))
					synctest.Wait()
					if r := h.last(arn); r.Status != statusRunning || h.f.state("web") != "running" {
						t.Fatalf("before the kill: task %s, web %s; want both running", r.Status, h.f.state("web"))
					}
					if n := len(h.f.stops("web")); n != 1 {
						t.Errorf("Docker was asked %d times to stop web while it stopped; want once", n)
					}
				}
				r := h.waitReport(arn, statusStopped)
				if got := statuses(r)["web"]; got != tc.code {
					t.Errorf("web reported %s; want %s", got, tc.code)
				}
				if r.ExecutionStoppedAt.Before(asked) {
					t.Errorf("executionStoppedAt %v is before the stop was asked (%v)", r.ExecutionStoppedAt, asked)
				}
			})
		})
	}
}
