package service

import (
	"testing"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

// Rollback: when the circuit breaker fails a deployment and rollback is
// on, the last deployment that completed is deployed again, in ECS's words.

// failUntilTripped plays agents on which every task of the deployment
// fails to start (and every task told to stop stops), until the circuit
// breaker has failed the deployment.
func failUntilTripped(t *testing.T, h *controllertest.Harness, c *Controller, cluster, service, deployment string) *state.Service {
	t.Helper()
	for range 20 {
		passes(h, c, 10)
		for _, tk := range h.Tasks(cluster, func(t *state.Task) bool { return t.LastStatus != "STOPPED" && t.DesiredStatus == "STOPPED" }) {
			h.Report(cluster, tk.ID, "STOPPED", nil)
		}
		for _, tk := range pendingTasks(h, cluster, deployment) {
			failTask(h, cluster, tk.ID, neverRuns)
		}
		pass(c)
		r := h.Service(cluster, service)
		if d := findDeployment(r, deployment); d != nil && d.RolloutState == state.RolloutFailed {
			return r
		}
		if r.NextLaunchAt != nil && h.Clock.Now().Before(*r.NextLaunchAt) {
			h.Clock.Advance(r.NextLaunchAt.Sub(h.Clock.Now()))
		}
	}
	r := h.Service(cluster, service)
	t.Fatalf("the circuit breaker never failed deployment %s: %+v", deployment, r.Deployments)
	return nil
}

func TestTheCircuitBreakerRollsBackToTheLastCompletedDeployment(t *testing.T) {
	for _, tc := range []struct {
		name       string
		minHealthy int
		oldRunning bool // the completed deployment still has tasks when the breaker trips
	}{
		{name: "the completed deployment is deployed again while its tasks still run", minHealthy: 100, oldRunning: true},
		{name: "the completed deployment is deployed again from the history once its tasks are gone", minHealthy: 0, oldRunning: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := controllertest.New(t)
			c := testScheduler(h)
			h.Fleet("c", 2, 4096, 4096)
			td1 := h.TaskDefinition("web", 128)
			createService(h, "c", "web", td1, 2, withCircuitBreaker(true, true, map[string]any{"minimumHealthyPercent": tc.minHealthy}))
			settle(t, h, c, "c", 10)
			r := h.Service("c", "web")
			d1 := r.Primary().ID
			if r.Primary().RolloutState != state.RolloutCompleted {
				t.Fatalf("the first deployment did not complete: %+v", r.Primary())
			}
			td2 := h.TaskDefinition("web", 128)
			h.Call("UpdateService", map[string]any{"cluster": "c", "service": "web", "taskDefinition": td2})
			d2 := h.Service("c", "web").Primary().ID
			if d2 == d1 {
				t.Fatal("UpdateService to a new task definition made no deployment")
			}

			r = failUntilTripped(t, h, c, "c", "web", d2)
			failed := findDeployment(r, d2)
			if failed.RolloutState != state.RolloutFailed || failed.RolloutStateReason != reasonCircuitBreaker || failed.Status == state.DeploymentPrimary {
				t.Fatalf("the failed deployment: %+v", failed)
			}
			back := r.Primary()
			want := "ECS deployment circuit breaker: rolling back to deploymentId " + d1 + "."
			if back == nil || back.ID == d1 || back.ID == d2 || back.TaskDefinitionARN != td1 || !back.Rollback || back.RollbackOf != d2 ||
				back.RolloutState != state.RolloutInProgress || back.RolloutStateReason != want || back.DesiredCount != 2 || back.FailedTasks != 0 {
				t.Fatalf("the rollback deployment: %+v; want a new PRIMARY deployment of %s, reason %q", back, td1, want)
			}
			if r.TaskDefinitionARN != td1 {
				t.Fatalf("service taskDefinition %s after the rollback, want %s", r.TaskDefinitionARN, td1)
			}
			if got := r.DeploymentByID(d1) != nil; got != tc.oldRunning {
				t.Fatalf("deployment %s among the current deployments: %v, want %v (the row exercises the other case)", d1, got, tc.oldRunning)
			}
			if n := countEvents(r, "(service web) (deployment "+d2+") rolling back to deployment "+d1+"."); n != 1 {
				t.Fatalf("%d rolling back events, want 1: %+v", n, r.Events)
			}
			out := h.Call("DescribeServices", map[string]any{"cluster": "c", "services": []string{"web"}})
			if got := out["services"].([]any)[0].(map[string]any)["taskDefinition"]; got != td1 {
				t.Fatalf("DescribeServices says taskDefinition %v, want %s", got, td1)
			}

			// The rollback then completes like any deployment, on :1.
			settle(t, h, c, "c", 20)
			r = h.Service("c", "web")
			if p := r.Primary(); p.ID != back.ID || p.RolloutState != state.RolloutCompleted || len(r.Deployments) != 1 {
				t.Fatalf("after the rollback settled: %+v", r.Deployments)
			}
			live := liveTasks(h, "c")
			for _, tk := range live {
				if tk.TaskDefinitionARN != td1 || tk.StartedBy != back.ID {
					t.Fatalf("task %s of %s by %s after the rollback", tk.ID, tk.TaskDefinitionARN, tk.StartedBy)
				}
			}
			if len(live) != 2 {
				t.Fatalf("%d live tasks after the rollback, want 2", len(live))
			}
		})
	}
}

func TestTheCircuitBreakerDoesNotRollBackWithoutACompletedDeployment(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before is what the deployment the failing one replaces did: ""
		// (there is none), "placed" (its tasks never ran), "half running"
		// (one of its two tasks runs, so it is still current when the
		// breaker trips).
		before string
	}{
		{name: "a first deployment whose tasks fail has nothing to go back to", before: ""},
		{name: "a deployment replacing one whose tasks never ran has nothing to go back to", before: "placed"},
		{name: "a deployment replacing one still running but never completed has nothing to go back to", before: "half running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := controllertest.New(t)
			c := testScheduler(h)
			h.Fleet("c", 2, 4096, 4096)
			td := h.TaskDefinition("web", 128)
			createService(h, "c", "web", td, 2, withCircuitBreaker(true, true, nil))
			var d1 string
			if tc.before != "" {
				passes(h, c, 10)
				d1 = h.Service("c", "web").Primary().ID
				if tc.before == "half running" {
					h.Report("c", pendingTasks(h, "c", d1)[0].ID, "RUNNING", nil)
					passes(h, c, 10)
				}
				td = h.TaskDefinition("web", 128)
				h.Call("UpdateService", map[string]any{"cluster": "c", "service": "web", "taskDefinition": td})
			}
			d := h.Service("c", "web").Primary().ID

			r := failUntilTripped(t, h, c, "c", "web", d)
			p := r.Primary()
			if p == nil || p.ID != d || p.RolloutState != state.RolloutFailed || p.RolloutStateReason != reasonCircuitBreaker {
				t.Fatalf("primary after the breaker tripped: %+v, want %s FAILED", p, d)
			}
			if r.TaskDefinitionARN != td {
				t.Fatalf("service taskDefinition %s, want %s still", r.TaskDefinitionARN, td)
			}
			for _, x := range r.AllDeployments() {
				if x.Rollback {
					t.Fatalf("a rollback deployment was made: %+v", x)
				}
			}
			if hasEventPrefix(r, "(service web) (deployment "+d+") rolling back") {
				t.Fatalf("a rolling back event: %+v", r.Events)
			}
			if old := r.DeploymentByID(d1); (old != nil) != (tc.before == "half running") || (old != nil && old.RolloutState != state.RolloutInProgress) {
				t.Fatalf("the replaced deployment when the breaker tripped: %+v (the row exercises another case)", old)
			}
		})
	}
}
