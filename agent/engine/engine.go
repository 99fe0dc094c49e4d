// Package engine is the task engine of `berth agent`: it drives every task
// on this machine from what Docker shows towards what the control plane
// wants, one reconciliation pass at a time, and reports what changed. It
// never restarts or duplicates a container: containers are found again by
// their labels after a restart, and created under fixed names.
package engine

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// Engine runs tasks on Docker.
type Engine struct {
	rt       Runtime
	cluster  string
	instance string // this agent's container instance ARN, which its containers carry
	report   Reporter
	log      *slog.Logger

	mu     sync.Mutex
	tasks  map[string]*task
	wake   chan struct{}
	starts chan struct{} // bounds the container starts in flight
	sends  chan struct{} // bounds the reports in flight

	cgroupsWarned bool // the machine's lack of task cgroups was logged

	env ContainerEnvironment // the agent's variables (metadata.go); nil for none
}

// startsInFlight is how many containers the engine creates and starts at
// once: a burst of tasks (a service scaling out) starts in parallel, as
// `docker run` processes would, without flooding the Engine.
const startsInFlight = 8

// New returns an engine for the cluster's tasks on rt (a *docker.Runtime
// outside tests), run by the agent of the container instance instance.
func New(rt Runtime, cluster, instance string, report Reporter, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.Default()
	}
	return &Engine{rt: rt, cluster: cluster, instance: instance, report: report, log: log,
		tasks: map[string]*task{}, wake: make(chan struct{}, 1), starts: make(chan struct{}, startsInFlight), sends: make(chan struct{}, reportsInFlight)}
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Apply takes tasks from a payload. It returns at once; the work happens in Run.
func (e *Engine) Apply(tasks []acsmsg.Task) {
	e.mu.Lock()
	for i := range tasks {
		spec := tasks[i]
		arn := ecs.Val(spec.Arn)
		t := e.tasks[arn]
		if t == nil {
			t = &task{arn: arn, known: statusNone, createdAt: time.Now()}
			e.tasks[arn] = t
		}
		t.merge(&spec)
	}
	e.mu.Unlock()
	e.poke()
}

// Stop marks tasks to stop (the control plane's answer to a stop
// verification).
func (e *Engine) Stop(arns []string) {
	e.mu.Lock()
	for _, arn := range arns {
		if t := e.tasks[arn]; t != nil {
			t.desired = statusStopped
		}
	}
	e.mu.Unlock()
	e.poke()
}

// Running lists the tasks this machine runs and their desired status: what
// a task manifest is compared with.
func (e *Engine) Running() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for arn, t := range e.tasks {
		if t.known != statusStopped {
			out[arn] = t.desired
		}
	}
	return out
}

// Health lists container health of running tasks, for TCS.
func (e *Engine) Health() map[string]map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]map[string]string{}
	for arn, t := range e.tasks {
		if t.known != statusRunning {
			continue
		}
		for _, c := range t.containers {
			if c.health != "" {
				if out[arn] == nil {
					out[arn] = map[string]string{}
				}
				out[arn][c.name] = c.health
			}
		}
	}
	return out
}

// Adopt finds the containers of earlier runs of the agent in Docker, so
// that a restarted agent carries on with them instead of starting again.
// It takes only those its own container instance created: every Berth on
// an Engine may use the cluster `default`, and a container another one
// created (or this machine's earlier registration, before its data
// directory went) is not this agent's to stop or report. The stock agent
// likewise knows only the containers its own state file names.
func (e *Engine) Adopt(ctx context.Context) error {
	managed, err := e.rt.Managed(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range managed {
		if st.Labels[docker.LabelCluster] != e.cluster || st.Labels[docker.LabelInstance] != e.instance {
			continue
		}
		arn := st.Labels[docker.LabelTaskARN]
		t := e.tasks[arn]
		if t == nil {
			t = &task{arn: arn, known: statusNone, desired: statusRunning, createdAt: time.Now(), adoptedAt: time.Now(), prepared: true}
			e.tasks[arn] = t
		}
		if st.Labels[docker.LabelContainerName] == docker.PauseContainerName {
			adoptSandbox(t, st) // not one of the task's containers: it holds their network
			continue
		}
		c := &ctr{name: st.Labels[docker.LabelContainerName], id: st.ID, known: statusCreated}
		t.containers = append(t.containers, c)
		observe(c, st)
		if c.known == statusRunning || c.everRan {
			t.known = statusRunning
		}
	}
	return nil
}

// Run reconciles until ctx ends: on every payload and Docker event, and
// every second. A Docker event names its container, so the pass it causes
// inspects only that one; the pass each second inspects every container.
func (e *Engine) Run(ctx context.Context) {
	events, _ := e.rt.Events(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	full, dirty := true, map[string]bool{}
	for {
		e.reconcile(ctx, full, dirty)
		full, dirty = false, map[string]bool{}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-tick.C:
			full = true
		case id, ok := <-events:
			for ok {
				dirty[id] = true
				select { // fold in the events already queued
				case id, ok = <-events:
					continue
				default:
				}
				break
			}
			if !ok {
				events, _ = e.rt.Events(ctx) // the stream broke: follow it again
				full = true
			}
		}
	}
}

// readEnvFile reads an environment file on this machine (Berth's stand-in
// for ECS's S3 objects).
func readEnvFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
