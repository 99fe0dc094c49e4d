// Package emulate is Berth's emulator mode (`berth server --emulate`,
// `berth dev --emulate`): for code that drives ECS (deploy scripts, Lambda
// handlers, infrastructure tools) tested in CI without Docker. Every
// container instance registered with no agent of its own is served by an
// in-process simulated agent (internal/simulate) over the real agent
// protocol, on loopback: tasks placed on it are reported RUNNING at once,
// and STOPPED when told to stop, so RunTask, StartTask and services move
// through ECS's real validation and state machine in milliseconds.
package emulate

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-project/berth/internal/simulate"
	"github.com/berth-project/berth/internal/state"
)

// KeyFor answers a key pair of an account, for the simulated agents of its
// instances to sign with.
type KeyFor func(account string) (aws.Credentials, bool)

// Agents attaches a simulated agent to every ACTIVE or DRAINING instance
// that has none, and detaches it when the instance is deregistered or gone
// (a reset). It is level-triggered: Reconcile compares the instances with
// the agents it holds.
type Agents struct {
	state    *state.State
	endpoint string // the server's own API, e.g. http://127.0.0.1:8450
	keyFor   KeyFor
	log      *slog.Logger

	mu       sync.Mutex
	attached map[string]*agent // by instance key
	wg       sync.WaitGroup
}

type agent struct {
	cancel context.CancelFunc
	fleet  *simulate.Fleet // nil until attached
}

// New returns the emulator's agents for the server at endpoint.
func New(st *state.State, endpoint string, keyFor KeyFor, log *slog.Logger) *Agents {
	if log == nil {
		log = slog.Default()
	}
	return &Agents{state: st, endpoint: endpoint, keyFor: keyFor, log: log, attached: map[string]*agent{}}
}

// Reconcile makes one pass; it asks to run again in a second while an
// agent is still attaching (one that fails is tried again), else only on
// change.
func (a *Agents) Reconcile(ctx context.Context) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[string]bool{}
	for _, o := range a.state.Store().List(state.Root+state.KindInstance+"/", "", 0) {
		inst, err := state.Decode[state.Instance](a.state, o)
		if err != nil || inst.Status == state.StatusInactive {
			continue
		}
		want[o.Key] = true
		if _, held := a.attached[o.Key]; held || inst.AgentConnected {
			continue // ours, or an agent of its own (berth agent, the stock agent)
		}
		sc, _, _, ok := state.InstanceKeyParts(o.Key)
		if !ok {
			continue
		}
		creds, ok := a.keyFor(sc.Account)
		if !ok {
			a.log.Warn("emulator: no key of the instance's account to sign its agent with", "instance", inst.ARN)
			continue
		}
		a.attach(o.Key, simulate.Config{Server: a.endpoint, Cluster: inst.Cluster, Region: sc.Region, Credentials: creds, Log: a.log}, inst.ARN)
	}
	attaching := false
	for key, ag := range a.attached {
		if !want[key] {
			ag.cancel()
			delete(a.attached, key)
			continue
		}
		attaching = attaching || ag.fleet == nil
	}
	if attaching {
		return time.Second // to try again an attach that fails
	}
	return 0
}

// attach starts a simulated agent for one instance in the background: the
// pass does not wait on a websocket handshake per instance.
func (a *Agents) attach(key string, cfg simulate.Config, instanceARN string) {
	ctx, cancel := context.WithCancel(context.Background())
	ag := &agent{cancel: cancel}
	a.attached[key] = ag
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		start, done := context.WithTimeout(ctx, 30*time.Second)
		f, err := simulate.Attach(start, cfg, instanceARN)
		done()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("emulator: could not attach a simulated agent", "instance", instanceARN, "err", err)
				a.mu.Lock()
				if a.attached[key] == ag {
					delete(a.attached, key) // the next pass tries again
				}
				a.mu.Unlock()
			}
			return
		}
		a.mu.Lock()
		ag.fleet = f
		a.mu.Unlock()
		<-ctx.Done()
		f.Close()
	}()
}

// Close detaches every agent and waits for their sessions to end.
func (a *Agents) Close() {
	a.mu.Lock()
	for key, ag := range a.attached {
		ag.cancel()
		delete(a.attached, key)
	}
	a.mu.Unlock()
	a.wg.Wait()
}
