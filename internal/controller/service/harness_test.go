package service

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

// testScheduler is the service scheduler on a harness, on its clock.
func testScheduler(h *controllertest.Harness) *Controller {
	return New(h.State, h.Placer, Options{Now: h.Clock.Now, Log: h.Log})
}

// settle runs passes, with the harness's agents doing at once what they
// are told, until a pass has nothing more to do (at most rounds passes).
func settle(t *testing.T, h *controllertest.Harness, c *Controller, cluster string, rounds int) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		before := h.Store.Revision()
		c.Reconcile(context.Background())
		h.RunAll(cluster)
		if h.Store.Revision() == before {
			return
		}
	}
}

func hasEventPrefix(r *state.Service, prefix string) bool {
	for _, e := range r.Events {
		if strings.HasPrefix(e.Message, prefix) {
			return true
		}
	}
	return false
}

func countEvents(r *state.Service, prefix string) int {
	n := 0
	for _, e := range r.Events {
		if strings.HasPrefix(e.Message, prefix) {
			n++
		}
	}
	return n
}

func liveTasks(h *controllertest.Harness, cluster string) []*state.Task {
	return h.Tasks(cluster, func(t *state.Task) bool { return t.LastStatus != "STOPPED" })
}

func TestHarnessBringsAServiceToASteadyState(t *testing.T) {
	h := controllertest.New(t)
	c := testScheduler(h)
	h.Fleet("c", 2, 1024, 2048)
	td := h.TaskDefinition("web", 128)
	h.Call("CreateService", map[string]any{"cluster": "c", "serviceName": "web", "taskDefinition": td, "desiredCount": 3})
	settle(t, h, c, "c", 10)
	r := h.Service("c", "web")
	if n := len(liveTasks(h, "c")); n != 3 {
		t.Fatalf("%d live tasks, want 3", n)
	}
	if !hasEventPrefix(r, "(service web) has reached a steady state.") || r.Primary().RolloutState != state.RolloutCompleted {
		t.Fatalf("not steady: rollout %s, events %+v", r.Primary().RolloutState, r.Events)
	}
}
