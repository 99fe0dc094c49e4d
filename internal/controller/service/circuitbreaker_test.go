package service

import (
	"fmt"
	"testing"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

// The deployment circuit breaker: a deployment whose tasks keep failing is
// marked FAILED once as many of its tasks have failed as ECS's threshold,
// half its desired count rounded up, at least 3 and at most 200.

const reasonCircuitBreaker = "ECS deployment circuit breaker: tasks failed to start."

func TestFailureThresholdIsHalfTheDesiredCountRoundedUpBetween3And200(t *testing.T) {
	for _, tc := range []struct {
		desired, want int
	}{
		{0, 3},
		{1, 3},
		{4, 3},
		{6, 3},
		{7, 4},
		{10, 5},
		{11, 6},
		{399, 200},
		{400, 200},
		{401, 200},
		{5000, 200},
	} {
		t.Run(fmt.Sprintf("a desired count of %d trips after %d failed tasks", tc.desired, tc.want), func(t *testing.T) {
			if got := state.FailureThreshold(tc.desired); got != tc.want {
				t.Fatalf("FailureThreshold(%d) = %d, want %d", tc.desired, got, tc.want)
			}
		})
	}
}

// nextPendingTask runs passes until the deployment has a task waiting for
// its agent, moving the clock past a launch back-off if there is one.
func nextPendingTask(t *testing.T, h *controllertest.Harness, c *Controller, cluster, service, deployment string) *state.Task {
	t.Helper()
	for range 3 {
		passes(h, c, 10)
		if p := pendingTasks(h, cluster, deployment); len(p) > 0 {
			return p[0]
		}
		r := h.Service(cluster, service)
		if r.NextLaunchAt == nil || !h.Clock.Now().Before(*r.NextLaunchAt) {
			break
		}
		h.Clock.Advance(r.NextLaunchAt.Sub(h.Clock.Now()))
	}
	t.Fatalf("deployment %s has no task waiting to run; tasks: %+v", deployment, h.Tasks(cluster, nil))
	return nil
}

func TestTheCircuitBreakerFailsTheDeploymentWhenTheThresholdIsReached(t *testing.T) {
	for _, tc := range []struct {
		name      string
		desired   int
		how       failure
		enabled   bool
		threshold int // the failed task that fails the deployment (0: none)
	}{
		{name: "one desired task fails the deployment at the third task that never runs", desired: 1, how: neverRuns, enabled: true, threshold: 3},
		{name: "one desired task fails the deployment at the third task that exits with code 1", desired: 1, how: exitsWithCode1, enabled: true, threshold: 3},
		{name: "four desired tasks fail the deployment at the third failed task, the minimum", desired: 4, how: exitsWithCode1, enabled: true, threshold: 3},
		{name: "seven desired tasks fail the deployment at the fourth failed task, half rounded up", desired: 7, how: exitsWithCode1, enabled: true, threshold: 4},
		{name: "ten desired tasks fail the deployment at the fifth task that never runs", desired: 10, how: neverRuns, enabled: true, threshold: 5},
		{name: "without the circuit breaker six failed tasks leave the deployment in progress", desired: 1, how: neverRuns, enabled: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := controllertest.New(t)
			c := testScheduler(h)
			h.Fleet("c", 2, 4096, 4096)
			td := h.TaskDefinition("web", 128)
			createService(h, "c", "web", td, tc.desired, withCircuitBreaker(tc.enabled, false, nil))
			d := h.Service("c", "web").Primary().ID
			failures := tc.threshold
			if failures == 0 {
				failures = 6
			}
			for i := 1; i <= failures; i++ {
				task := nextPendingTask(t, h, c, "c", "web", d)
				failTask(h, "c", task.ID, tc.how)
				pass(c) // the bookkeeping of the stopped task
				r := h.Service("c", "web")
				p := findDeployment(r, d)
				if p.FailedTasks != i {
					t.Fatalf("after failed task %d the deployment counts %d failed tasks", i, p.FailedTasks)
				}
				if i < tc.threshold || tc.threshold == 0 {
					if p.RolloutState != state.RolloutInProgress {
						t.Fatalf("after failed task %d of threshold %d: rolloutState %s (%q), want IN_PROGRESS", i, tc.threshold, p.RolloutState, p.RolloutStateReason)
					}
				}
			}
			r := h.Service("c", "web")
			p := findDeployment(r, d)
			if tc.threshold == 0 {
				if p.Status != state.DeploymentPrimary || hasEventPrefix(r, "(service web) (deployment "+d+") deployment failed") {
					t.Fatalf("deployment %s: status %s, events %+v", d, p.Status, r.Events)
				}
				return
			}
			if p.RolloutState != state.RolloutFailed || p.RolloutStateReason != reasonCircuitBreaker || p.FinishedAt == nil {
				t.Fatalf("after %d failed tasks: rolloutState %s (%q), want FAILED (%q)", tc.threshold, p.RolloutState, p.RolloutStateReason, reasonCircuitBreaker)
			}
			if n := countEvents(r, "(service web) (deployment "+d+") deployment failed: tasks failed to start."); n != 1 {
				t.Fatalf("%d deployment failed events, want 1: %+v", n, r.Events)
			}
			// Without rollback the failed deployment stays the primary, and
			// nothing more is launched for it, however long one waits.
			if len(r.Deployments) != 1 || r.Primary() == nil || r.Primary().ID != d || r.TaskDefinitionARN != td {
				t.Fatalf("deployments after the breaker tripped without rollback: %+v", r.Deployments)
			}
			for _, tk := range pendingTasks(h, "c", d) {
				failTask(h, "c", tk.ID, tc.how)
			}
			h.Clock.Advance(maxLaunchBackoff)
			before := len(h.Tasks("c", nil))
			passes(h, c, 10)
			if after := len(h.Tasks("c", nil)); after != before {
				t.Fatalf("%d tasks launched for a FAILED deployment", after-before)
			}
		})
	}
}
