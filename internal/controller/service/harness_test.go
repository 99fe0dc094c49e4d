package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/api/ecs"
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

// pass runs one pass of the scheduler; the agents do nothing.
func pass(c *Controller) time.Duration {
	return c.Reconcile(context.Background())
}

// passes runs passes, the agents doing nothing, until one writes nothing
// (at most rounds passes).
func passes(h *controllertest.Harness, c *Controller, rounds int) {
	for i := 0; i < rounds; i++ {
		before := h.Store.Revision()
		c.Reconcile(context.Background())
		if h.Store.Revision() == before {
			return
		}
	}
}

// createService creates a REPLICA service of desired tasks of td; the
// members of extra (deploymentConfiguration, say) go into the request too.
func createService(h *controllertest.Harness, cluster, name, td string, desired int, extra map[string]any) {
	h.T.Helper()
	in := map[string]any{"cluster": cluster, "serviceName": name, "taskDefinition": td, "desiredCount": desired}
	for k, v := range extra {
		in[k] = v
	}
	h.Call("CreateService", in)
}

// withCircuitBreaker is a request's deploymentConfiguration with the
// deployment circuit breaker as given, and the other members of more
// (minimumHealthyPercent, say); those left out keep ECS's defaults.
func withCircuitBreaker(enable, rollback bool, more map[string]any) map[string]any {
	dc := map[string]any{"deploymentCircuitBreaker": map[string]any{"enable": enable, "rollback": rollback}}
	for k, v := range more {
		dc[k] = v
	}
	return map[string]any{"deploymentConfiguration": dc}
}

// failure is how the test, playing the agent, makes a task fail.
type failure int

const (
	exitsWithCode1 failure = iota // RUNNING, then STOPPED with its essential container's exit code 1
	neverRuns                     // STOPPED without ever being RUNNING
)

func (f failure) String() string {
	if f == neverRuns {
		return "never reaches RUNNING"
	}
	return "exits with code 1 after RUNNING"
}

// failTask reports a task failed as f says, before the scheduler sees it run.
func failTask(h *controllertest.Harness, cluster, id string, f failure) {
	h.T.Helper()
	want := ecs.TaskStopCodeTaskFailedToStart
	if f == neverRuns {
		h.Report(cluster, id, "STOPPED", nil)
	} else {
		code := int32(1)
		h.Report(cluster, id, "RUNNING", nil)
		h.Report(cluster, id, "STOPPED", &code)
		want = ecs.TaskStopCodeEssentialContainerExited
	}
	_, tk, err := h.State.Task(h.Scope, cluster, id)
	if err != nil || tk == nil || tk.StopCode != string(want) || !state.TaskFailed(tk) {
		h.T.Fatalf("task %s that %s: %+v, %v; want stop code %s, a failure", id, f, tk, err, want)
	}
}

// pendingTasks lists the tasks of a deployment that have not yet run and
// are still wanted.
func pendingTasks(h *controllertest.Harness, cluster, deployment string) []*state.Task {
	return h.Tasks(cluster, func(t *state.Task) bool {
		return t.StartedBy == deployment && t.Live() && state.IsPending(t.LastStatus)
	})
}

// findDeployment finds a deployment of the service, current or past.
func findDeployment(r *state.Service, id string) *state.Deployment {
	for _, d := range r.AllDeployments() {
		if d.ID == id {
			return d
		}
	}
	return nil
}
