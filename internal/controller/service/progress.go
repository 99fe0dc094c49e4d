package service

import (
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
)

// Progress: the launch back-off and the deployment circuit breaker.

// backoffAfter failed tasks in a row, a service waits before launching
// again, doubling up to maxLaunchBackoff: a broken image never becomes a
// hot loop.
const backoffAfter = 3

func launchBackoff(failures int) time.Duration {
	if failures <= backoffAfter {
		return 0
	}
	wait := 5 * time.Second << min(failures-backoffAfter-1, 10)
	return min(wait, maxLaunchBackoff)
}

// tripCircuitBreaker fails the primary deployment and, with rollback,
// deploys the last one that completed again.
func (c *Controller) tripCircuitBreaker(sc state.Scope, r *state.Service, p *state.Deployment, now time.Time) {
	p.RolloutState, p.UpdatedAt = state.RolloutFailed, now
	p.RolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
	p.FinishedAt = &now
	r.AddEvent(now, "(service %s) (deployment %s) deployment failed: tasks failed to start.", r.Name, p.ID)
	cb := r.DeploymentConfiguration.DeploymentCircuitBreaker
	if ecs.Val(cb.Rollback) {
		r.RollBack(sc, p, "ECS deployment circuit breaker: rolling back to deploymentId %s.", now)
	}
}
