// Package service is the ECS service scheduler: a level-triggered
// controller, run on the elected leader only, that keeps every service's
// tasks at what its deployments (or, for the EXTERNAL deployment
// controller, its task sets) want. It starts tasks through
// internal/placement and stops them by writing their desired status; the
// arithmetic of a rolling update is internal/rollout's. Every decision a
// user would want to know of is a service event, worded as ECS words it.
//
// The files split the loop by concern: scheduler.go (the pass, and one
// step of one service), bookkeeping.go (stopped tasks counted, deployments
// retired, completion and steady state), progress.go (the launch back-off
// and the circuit breaker), writes.go (starts, stops and events, each a
// guarded transaction), tasksets.go (EXTERNAL services).
package service

import (
	"log/slog"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/placement"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// Controller is the service scheduler. What it keeps in memory is only
// what it may skip: losing it costs one pass over everything.
type Controller struct {
	state  *state.State
	store  *store.Store
	placer *placement.Placer
	now    func() time.Time
	log    *slog.Logger

	mu       sync.Mutex             // one pass at a time
	seen     map[string]serviceSeen // by service key
	instants map[string]time.Time   // by service key: no placement attempt before
}

// Options are the settings of a Controller; the zero value is usable.
type Options struct {
	Now func() time.Time // the clock; time.Now when nil
	Log *slog.Logger
}

// New returns the service scheduler on st, starting tasks through pl.
func New(st *state.State, pl *placement.Placer, opts Options) *Controller {
	c := &Controller{state: st, store: st.Store(), placer: pl, now: opts.Now, log: opts.Log,
		seen: map[string]serviceSeen{}, instants: map[string]time.Time{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}
