package service

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

// Scaling a large service in to 0 stops every task in one pass, with one
// event, as ECS does, though etcd takes at most 128 operations in a
// transaction: the stops are not spread over a pass per 50 tasks, and
// the event is not one per batch.
func TestScaleInToZeroStopsEveryTaskInOnePass(t *testing.T) {
	const tasks = 3*maxTasksPerWrite + 7
	h := controllertest.New(t)
	c := testScheduler(h)
	h.Fleet("c", 4, 4096, 8192)
	td := h.TaskDefinition("web", 64)
	createService(h, "c", "web", td, tasks, nil)
	settle(t, h, c, "c", 20)
	if n := len(liveTasks(h, "c")); n != tasks {
		t.Fatalf("%d live tasks before the scale-in, want %d", n, tasks)
	}
	before := countEvents(h.Service("c", "web"), eventStopped)

	h.Call("UpdateService", map[string]any{"cluster": "c", "service": "web", "desiredCount": 0})
	pass(c)

	wanted := h.Tasks("c", func(tk *state.Task) bool { return tk.Live() })
	if len(wanted) != 0 {
		t.Fatalf("%d tasks still wanted RUNNING after one pass, want 0", len(wanted))
	}
	r := h.Service("c", "web")
	if n := countEvents(r, eventStopped) - before; n != 1 {
		t.Fatalf("%d stop events for the scale-in, want 1", n)
	}
	want := "(service web) has stopped 157 running tasks: "
	if msg := r.Events[0].Message; !strings.HasPrefix(msg, want) {
		t.Fatalf("event %q, want it to start %q", msg, want)
	}
	// The agents stop the tasks; nothing more is stopped, nor said.
	settle(t, h, c, "c", 5)
	if n := countEvents(h.Service("c", "web"), eventStopped) - before; n != 1 {
		t.Fatalf("%d stop events once the tasks stopped, want 1", n)
	}
}
