// Package controllertest is the harness the controllers' tests run on, in
// the manner of Nomad's scheduler Harness: a real embedded etcd and the
// real store, state and placer, a clock the test moves, and the ECS
// operations called in-process (no HTTP, no Docker, no agent) to set up
// clusters, instances, task definitions and services exactly as a user's
// calls would. The test plays the agent by reporting task states, and
// runs a controller's passes itself.
//
// It imports internal/server only to build records the way the API does;
// production code never lets a controller and the API import each other.
package controllertest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/placement"
	"github.com/berth-project/berth/internal/server"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// Clock is a clock the test moves; it starts at a fixed instant.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Harness is one test's control plane without its servers.
type Harness struct {
	T      testing.TB
	Store  *store.Store
	State  *state.State
	Placer *placement.Placer
	API    *server.Server
	Clock  *Clock
	Log    *slog.Logger
	Scope  state.Scope // the development account in us-east-1
}

// New starts etcd in a temporary directory and the state, placer and API
// on it, all on one test clock; everything stops when the test ends.
func New(t testing.TB) *Harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := store.Dial(ctx, e.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, cli, state.Root, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	h := &Harness{T: t, Store: st, Clock: &Clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, Log: log,
		Scope: state.Scope{Account: auth.DefaultAccountID, Region: server.DefaultRegion}}
	h.State = state.New(st, log)
	h.Placer = placement.New(h.State, h.Clock.Now)
	h.API = server.New(h.State, h.Placer, server.Options{Now: h.Clock.Now, Log: log})
	return h
}

// Call runs an ECS operation in-process with the development account's
// scope; in is its request as JSON members. It fails the test on an error.
func (h *Harness) Call(op string, in any) map[string]any {
	h.T.Helper()
	out, err := h.TryCall(op, in)
	if err != nil {
		h.T.Fatalf("%s: %v", op, err)
	}
	return out
}

// TryCall is Call that answers the error instead of failing the test.
func (h *Harness) TryCall(op string, in any) (map[string]any, error) {
	h.T.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		h.T.Fatal(err)
	}
	ctx := auth.WithCaller(context.Background(), auth.Caller{AccountID: h.Scope.Account, Region: h.Scope.Region, Service: "ecs"})
	out, err := h.API.Dispatch(ctx, op, body)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(out)
	if err != nil {
		h.T.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		h.T.Fatal(err)
	}
	return m, nil
}

// Fleet creates a cluster with n container instances of cpu units and
// memory MiB each, their agents connected, and returns their ids.
func (h *Harness) Fleet(cluster string, n int, cpu, memory int) []string {
	h.T.Helper()
	h.Call("CreateCluster", map[string]any{"clusterName": cluster})
	var ids []string
	for i := 0; i < n; i++ {
		out := h.Call("RegisterContainerInstance", map[string]any{
			"cluster": cluster,
			"totalResources": []map[string]any{
				{"name": "CPU", "type": "INTEGER", "integerValue": cpu},
				{"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
			},
		})
		arn := out["containerInstance"].(map[string]any)["containerInstanceArn"].(string)
		_, inst, err := h.State.Instance(h.Scope, cluster, arn)
		if err != nil || inst == nil {
			h.T.Fatalf("registered instance %s not found: %v", arn, err)
		}
		h.SetAgentConnected(cluster, inst.ID, true)
		ids = append(ids, inst.ID)
	}
	return ids
}

// SetAgentConnected marks an instance's agent connected or, from now,
// disconnected, as the agent endpoints would: connected to a new session
// with its liveness key (on no lease: the test decides when it goes, with
// DropLiveness), or disconnected with the key deleted.
func (h *Harness) SetAgentConnected(cluster, instanceID string, connected bool) {
	h.T.Helper()
	h.update(func() ([]store.Op, error) {
		o, inst, err := h.State.Instance(h.Scope, cluster, instanceID)
		if err != nil || inst == nil {
			h.T.Fatalf("instance %s: %v", instanceID, err)
		}
		cp := *inst
		cp.AgentConnected, cp.AgentDisconnectedAt, cp.AgentSession = connected, nil, ""
		cp.Version++
		key := h.Scope.AgentKey(cluster, instanceID)
		var live store.Op
		if connected {
			cp.AgentSession = state.NewHexID()
			live = store.PutAny(key, state.AgentLiveness{Session: cp.AgentSession, Server: "harness"})
		} else {
			now := h.Clock.Now().UTC()
			cp.AgentDisconnectedAt = &now
			live = store.Check(key, 0)
			if lo, found := h.Store.Get(key); found {
				live = store.Delete(key, lo.Rev)
			}
		}
		return []store.Op{store.Put(o.Key, &cp, o.Rev), live}, nil
	})
}

// DropLiveness deletes an instance's liveness key and leaves its record
// as it is: what etcd does when the lease of the server holding the
// agent's session expires (that server crashed).
func (h *Harness) DropLiveness(cluster, instanceID string) {
	h.T.Helper()
	h.update(func() ([]store.Op, error) {
		lo, found := h.Store.Get(h.Scope.AgentKey(cluster, instanceID))
		if !found {
			return nil, nil
		}
		return []store.Op{store.Delete(lo.Key, lo.Rev)}, nil
	})
}

// TaskDefinition registers a task definition of one essential busybox
// container with the memory (MiB) given, and answers its ARN.
func (h *Harness) TaskDefinition(family string, memory int) string {
	h.T.Helper()
	out := h.Call("RegisterTaskDefinition", map[string]any{
		"family":               family,
		"containerDefinitions": []map[string]any{{"name": "app", "image": "busybox", "memory": memory, "essential": true}},
	})
	return out["taskDefinition"].(map[string]any)["taskDefinitionArn"].(string)
}

// Tasks lists the tasks of a cluster that keep accepts (nil: all).
func (h *Harness) Tasks(cluster string, keep func(*state.Task) bool) []*state.Task {
	return h.State.ClusterTasks(h.Scope, cluster, keep)
}

// Report records what an agent would report for a task: its lastStatus
// moving forward to status, with exitCode for its containers when it
// stops (nil: none).
func (h *Harness) Report(cluster, taskID, status string, exitCode *int32) {
	h.T.Helper()
	_, err := h.State.ChangeTask(context.Background(), h.Scope, cluster, taskID, func(t *state.Task, ic *state.InstanceChange) error {
		for i := range t.Containers {
			if status == "STOPPED" && exitCode != nil {
				t.Containers[i].ExitCode = exitCode
			}
		}
		if !state.AdvanceTask(t, status, "", h.Clock.Now().UTC(), ic) {
			return state.ErrUnchanged
		}
		return nil
	})
	if err != nil {
		h.T.Fatalf("report %s %s: %v", taskID, status, err)
	}
}

// RunAll reports every task of the cluster that is PENDING and wanted
// RUNNING as RUNNING, and every task told to stop as STOPPED: a fleet of
// agents that does what it is told at once.
func (h *Harness) RunAll(cluster string) {
	h.T.Helper()
	for _, t := range h.Tasks(cluster, nil) {
		switch {
		case t.LastStatus == "STOPPED":
		case t.DesiredStatus == "STOPPED":
			h.Report(cluster, t.ID, "STOPPED", nil)
		case t.LastStatus != "RUNNING":
			h.Report(cluster, t.ID, "RUNNING", nil)
		}
	}
}

// Service answers a service's record as stored.
func (h *Harness) Service(cluster, name string) *state.Service {
	h.T.Helper()
	_, r, err := h.State.Service(h.Scope, cluster, name)
	if err != nil || r == nil {
		h.T.Fatalf("service %s/%s: %v", cluster, name, err)
	}
	return r
}

func (h *Harness) update(plan func() ([]store.Op, error)) {
	h.T.Helper()
	if _, err := h.Store.Update(context.Background(), plan); err != nil {
		h.T.Fatal(err)
	}
}
