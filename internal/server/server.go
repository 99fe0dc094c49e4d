// Package server is the ECS API's operations and nothing else: one file per
// resource group (clusters, task definitions, container instances, tasks,
// services, ...). Each handler validates what the generated model cannot
// (names, ECS's own rules), reads records through internal/state, places
// tasks through internal/placement, and writes with compare-on-revision
// transactions. What happens after (tasks kept at a service's count, lost
// agents, collection) is the controllers' (internal/controller/...), which
// this package never imports. Errors are *ecs.Error values with ECS's
// exception names and messages; the state's sentinels become them in one
// place (errors.go).
package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/berth-project/berth/internal/placement"
	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Server answers the ECS API. Operations it does not implement yet fall
// through to ecs.UnimplementedHandler, which names them in an error.
type Server struct {
	ecs.UnimplementedHandler

	store *store.Store
	now   func() time.Time
	log   *slog.Logger

	registrations registrar    // batches concurrent RegisterTaskDefinition calls per family
	agentEndpoint string       // the base URL agents reach this server at
	state         *state.State // typed lookups and the task indexes
	placer        *placement.Placer
	unreported    map[string]int32 // CPU and MEMORY of an instance registered without them
	awaitAgent    time.Duration
	quotas        Quotas     // with ECS's defaults filled in
	throttle      *throttler // per-account token buckets; nil: none
}

// Options are the settings of a Server; the zero value is usable.
type Options struct {
	Now func() time.Time // the clock; time.Now when nil
	Log *slog.Logger
	// AgentEndpoint is the base URL (e.g. http://10.0.0.5:8450) that
	// DiscoverPollEndpoint gives agents; empty: the Host of their request.
	AgentEndpoint string
	// UnreportedCPU and UnreportedMemory are the CPU units and MiB an
	// instance registered without them gets: 0, as ECS records, unless the
	// emulator sizes instances whose caller gave none (berth server
	// --emulate, where tests register instances without an agent).
	UnreportedCPU, UnreportedMemory int32
	// AwaitAgent is how long a new registration waits for the instance's
	// agent to connect before it answers: in the emulator a simulated agent
	// attaches to each instance registered without one, and a RunTask right
	// after the registration must find it connected. 0: no wait, as ECS.
	AwaitAgent time.Duration
	// Quotas are the service quotas enforced; zero fields are ECS's.
	Quotas Quotas
	// Throttling is how fast each account may call; the zero value is
	// ECS's documented rates.
	Throttling Throttling
}

// New returns a Server on st, placing tasks with pl.
func New(st *state.State, pl *placement.Placer, opts Options) *Server {
	s := &Server{store: st.Store(), state: st, placer: pl, now: opts.Now, log: opts.Log, agentEndpoint: opts.AgentEndpoint, awaitAgent: opts.AwaitAgent,
		unreported: map[string]int32{"CPU": opts.UnreportedCPU, "MEMORY": opts.UnreportedMemory},
		quotas:     opts.Quotas.withDefaults(), throttle: newThrottler(opts.Throttling)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

var _ ecs.Handler = (*Server)(nil)

// Dispatch runs one operation: the awsjson.Dispatcher of the ECS API. Every
// answer's empty lists are filled in here, from the one table of them
// (shapes.go), rather than by each handler.
func (s *Server) Dispatch(ctx context.Context, op string, body []byte) (any, error) {
	if err := s.throttle.allow(ctx, op); err != nil {
		return nil, err
	}
	out, err := ecs.Dispatch(ctx, s, op, body)
	if err != nil {
		return nil, wireError(err)
	}
	return withEmptyLists(out), nil
}

// DefaultRegion is used when a request carries no signature to take one from
// (only in-process callers that skip authentication).
const DefaultRegion = "us-east-1"

func scopeOf(ctx context.Context) state.Scope {
	if c, ok := auth.CallerFrom(ctx); ok {
		return state.Scope{Account: c.AccountID, Region: c.Region}
	}
	return state.Scope{Account: auth.DefaultAccountID, Region: DefaultRegion}
}

// commit runs a planned write with retries, mapping store failures that are
// not the client's fault to ServerException.
func (s *Server) update(ctx context.Context, plan func() ([]store.Op, error)) error {
	_, err := s.store.Update(ctx, plan)
	if err == nil {
		return nil
	}
	if w := wireError(err); w != err {
		return w // a sentinel of the state, said in ECS's words
	}
	var apiErr *ecs.Error
	if !errors.As(err, &apiErr) {
		s.log.Error("store write failed", "err", err)
		return errServiceUnavailable()
	}
	return err
}

// decode reads a record from the view, shared and read-only.
func decode[T any](s *Server, o *store.Object) (*T, error) { return state.Decode[T](s.state, o) }

// decodeCopy reads a private copy of a record, to change and write back.
func decodeCopy[T any](s *Server, o *store.Object) (*T, error) {
	return state.DecodeCopy[T](s.state, o)
}
