package service

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

const eventStopped = "(service web) has stopped"

// A rolling update stops the old deployment's tasks in one batch, with one
// event, once the new tasks started together have all come up, however
// far apart they report RUNNING; a new task that never comes up holds the
// old ones back for replacementBatchWait at most.
func TestRollingUpdateStopsTheOldTasksInOneBatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stuck     bool // one new task never reports RUNNING
		wantEvent string
	}{
		{name: "the new tasks come up one by one and the old ones stop together", wantEvent: "has stopped 3 running tasks"},
		{name: "a new task that never comes up holds the old ones back only so long", stuck: true, wantEvent: "has stopped 2 running tasks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := controllertest.New(t)
			c := testScheduler(h)
			h.Fleet("c", 2, 4096, 4096)
			td1 := h.TaskDefinition("web", 128)
			createService(h, "c", "web", td1, 3, nil)
			settle(t, h, c, "c", 10)
			before := countEvents(h.Service("c", "web"), eventStopped)
			td2 := h.TaskDefinition("web", 128)
			h.Call("UpdateService", map[string]any{"cluster": "c", "service": "web", "taskDefinition": td2})
			passes(h, c, 5) // the new deployment's 3 tasks are started together
			d2 := h.Service("c", "web").Primary().ID
			fresh := pendingTasks(h, "c", d2)
			if len(fresh) != 3 {
				t.Fatalf("%d new tasks started, want 3", len(fresh))
			}
			comeUp := fresh
			if tc.stuck {
				comeUp = fresh[:2]
			}
			for _, tk := range comeUp {
				h.Clock.Advance(5 * time.Millisecond)
				h.Report("c", tk.ID, "RUNNING", nil)
				passes(h, c, 5)
				if tk != comeUp[len(comeUp)-1] || tc.stuck {
					if n := countEvents(h.Service("c", "web"), eventStopped); n != before {
						t.Fatalf("old tasks stopped while new ones were still starting: %v", h.Service("c", "web").Events[0].Message)
					}
				}
			}
			if tc.stuck {
				h.Clock.Advance(replacementBatchWait)
				passes(h, c, 5)
			}
			r := h.Service("c", "web")
			if n := countEvents(r, eventStopped); n != before+1 {
				t.Fatalf("%d stop events for the old deployment, want 1", n-before)
			}
			for _, e := range r.Events {
				if strings.HasPrefix(e.Message, eventStopped) {
					if !strings.Contains(e.Message, tc.wantEvent) {
						t.Fatalf("event %q, want %q", e.Message, tc.wantEvent)
					}
					break
				}
			}
			old := h.Tasks("c", func(tk *state.Task) bool { return tk.StartedBy != d2 && tk.Live() })
			want := 0
			if tc.stuck {
				want = 1 // the stuck task keeps one old task, within minimumHealthyPercent
			}
			if len(old) != want {
				t.Fatalf("%d old tasks still wanted, want %d", len(old), want)
			}
		})
	}
}
