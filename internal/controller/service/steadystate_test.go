package service

import (
	"testing"
	"time"

	"github.com/berth-project/berth/internal/controller/controllertest"
)

// The steady-state reminder: "has reached a steady state." is written when
// the service becomes steady and, while it stays so, again every 6 hours.

const eventSteady = "(service web) has reached a steady state."

func TestTheSteadyStateEventIsRepeatedEvery6Hours(t *testing.T) {
	h := controllertest.New(t)
	c := testScheduler(h)
	h.Fleet("c", 2, 4096, 4096)
	createService(h, "c", "web", h.TaskDefinition("web", 128), 2, nil)
	settle(t, h, c, "c", 10)
	r := h.Service("c", "web")
	if r.SteadyAt == nil {
		t.Fatalf("not steady: %+v", r.Events)
	}
	steadyAt := *r.SteadyAt
	agent := h.Tasks("c", nil)[0].InstanceID
	for _, step := range []struct {
		name string
		at   time.Duration // since the service became steady
		look look          // what makes the scheduler look at the service again
		want int           // steady-state events by then
	}{
		{name: "the event is written once when the service becomes steady", at: 0, look: nothingChanges, want: 1},
		{name: "a pass a minute later when an agent reconnects writes no second one", at: time.Minute, look: agentReconnects, want: 1},
		{name: "a pass an hour later writes no second one", at: time.Hour, look: nothingChanges, want: 1},
		{name: "a new leader's first pass within 6 hours writes no second one", at: 3 * time.Hour, look: newLeader, want: 1},
		{name: "a pass just before 6 hours when an agent reconnects writes no second one", at: 6*time.Hour - time.Second, look: agentReconnects, want: 1},
		{name: "a pass once 6 hours have passed writes it again though nothing changed", at: 6 * time.Hour, look: nothingChanges, want: 2},
		{name: "a pass once 6 hours have passed when an agent reconnects writes it again", at: 6 * time.Hour, look: agentReconnects, want: 2},
		{name: "a new leader's first pass an hour after the reminder writes no third one", at: 7 * time.Hour, look: newLeader, want: 2},
		{name: "a new leader's first pass 6 hours after the reminder writes a third one", at: 12 * time.Hour, look: newLeader, want: 3},
	} {
		t.Run(step.name, func(t *testing.T) {
			h.Clock.Advance(steadyAt.Add(step.at).Sub(h.Clock.Now()))
			switch step.look {
			case agentReconnects:
				h.SetAgentConnected("c", agent, true)
			case newLeader:
				c = testScheduler(h)
			}
			settle(t, h, c, "c", 5)
			r := h.Service("c", "web")
			if n := len(liveTasks(h, "c")); n != 2 || r.SteadyAt == nil {
				t.Fatalf("%d live tasks, steady at %v: the service did not stay steady", n, r.SteadyAt)
			}
			if n := countEvents(r, eventSteady); n != step.want {
				t.Fatalf("%d steady-state events %v after the service became steady, want %d", n, step.at, step.want)
			}
		})
		if t.Failed() {
			return
		}
	}
}

// look is what makes the scheduler look at a steady service again.
type look int

const (
	nothingChanges  look = iota // the same scheduler's next pass, nothing written since its last
	agentReconnects             // an instance of the cluster is written
	newLeader                   // a new scheduler, as after a change of leader, makes the pass
)

func TestTheSteadyStateEventIsWrittenAgainAfterTheServiceWasUnsteady(t *testing.T) {
	h := controllertest.New(t)
	c := testScheduler(h)
	h.Fleet("c", 2, 4096, 4096)
	createService(h, "c", "web", h.TaskDefinition("web", 128), 2, nil)
	settle(t, h, c, "c", 10)
	h.Clock.Advance(time.Minute)
	// A task exits; its replacement brings the service back to steady
	// within the 6 hours: that is a new steady state, and said so.
	running := liveTasks(h, "c")
	code := int32(1)
	h.Report("c", running[0].ID, "STOPPED", &code)
	pass(c)
	if r := h.Service("c", "web"); r.SteadyAt != nil {
		t.Fatalf("still steady at %v with a task stopped", r.SteadyAt)
	}
	settle(t, h, c, "c", 10)
	if n := countEvents(h.Service("c", "web"), eventSteady); n != 2 {
		t.Fatalf("%d steady-state events, want 2", n)
	}
}
