package engine

import (
	"testing"
	"testing/synctest"

	acsmsg "github.com/berth-project/berth/api/acs"
)

// TestDuplicatePayloads sends a task more than once, as ACS does (a
// payload resent when its ack is lost, the tasks of a reconnecting agent):
// each container is created once and started once, whatever comes when,
// and a stop is never taken back.
func TestDuplicatePayloads(t *testing.T) {
	cases := []struct {
		name string
		// send drives the engine with the task tk (web and a sidecar),
		// web ignoring SIGTERM when stubborn.
		send     func(h *harness, tk acsmsg.Task)
		stubborn bool
		want     string // the task's last status
	}{
		{
			name: "the same task twice in one payload is run once",
			send: func(h *harness, tk acsmsg.Task) { h.apply(tk, tk) },
			want: statusRunning,
		},
		{
			name: "a task sent again while its containers start is run once",
			send: func(h *harness, tk acsmsg.Task) {
				h.f.holdStart("web")
				h.apply(tk)
				h.settle() // web's start is in flight
				h.apply(tk)
				h.settle()
				h.f.releaseStart("web")
			},
			want: statusRunning,
		},
		{
			name: "a task sent again after it runs starts nothing more",
			send: func(h *harness, tk acsmsg.Task) {
				h.apply(tk)
				h.waitReport(*tk.Arn, statusRunning)
				h.apply(tk)
			},
			want: statusRunning,
		},
		{
			name: "a RUNNING payload sent again while the task stops does not take the stop back",
			send: func(h *harness, tk acsmsg.Task) {
				h.apply(tk)
				h.waitReport(*tk.Arn, statusRunning)
				h.apply(stopped(tk))
				h.settle() // web is being stopped: Docker waits out its stopTimeout
				h.apply(tk)
				h.settle()
				if got := h.e.Running()[*tk.Arn]; got != statusStopped {
					h.t.Errorf("while web stops, the task's desired status is %q; want STOPPED", got)
				}
			},
			stubborn: true,
			want:     statusStopped,
		},
		{
			name: "a task sent again after it stopped starts nothing",
			send: func(h *harness, tk acsmsg.Task) {
				h.apply(tk)
				h.waitReport(*tk.Arn, statusRunning)
				h.apply(stopped(tk))
				h.waitReport(*tk.Arn, statusStopped)
				h.apply(tk)
			},
			want: statusStopped,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := taskDef("twice", containerDef("web", stopTimeout(10)), containerDef("sidecar", nonEssential))
				arn := *tk.Arn
				if tc.stubborn {
					h.f.ignoreSIGTERM("web")
				}
				h.run()
				tc.send(h, tk)
				h.waitReport(arn, tc.want)
				h.settle()

				if r := h.last(arn); r.Status != tc.want {
					t.Errorf("the task ended %s; want %s; reports: %s", r.Status, tc.want, h.describe())
				}
				for _, name := range []string{"web", "sidecar"} {
					if n := h.f.count("Create", name); n != 1 {
						t.Errorf("%s was created %d times; want once", name, n)
					}
					if n := h.f.count("Start", name); n != 1 {
						t.Errorf("%s was started %d times; want once", name, n)
					}
				}
				seenStopped := false
				for _, r := range h.reportsOf(arn) {
					if seenStopped && r.Status != statusStopped {
						t.Errorf("the task was reported %s after STOPPED: %s", r.Status, h.describe())
					}
					seenStopped = seenStopped || r.Status == statusStopped
				}
			})
		})
	}
}
