package instances

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/controller/service"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// fixture is one instance running a RunTask task and two tasks of the
// service "web", all RUNNING, with the instances controller and the service
// scheduler on the harness's clock.
type fixture struct {
	h        *controllertest.Harness
	c        *Controller
	services *service.Controller
	instance string   // its id
	runTask  string   // the RunTask task's id
	web      []string // the service's task ids
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := controllertest.New(t)
	f := &fixture{h: h, c: New(h.State, Options{Now: h.Clock.Now, Log: h.Log}),
		services: service.New(h.State, h.Placer, service.Options{Now: h.Clock.Now, Log: h.Log})}
	f.instance = h.Fleet("c", 1, 2048, 2048)[0]
	td := h.TaskDefinition("app", 256)
	out := h.Call("RunTask", map[string]any{"cluster": "c", "taskDefinition": td})
	arn := out["tasks"].([]any)[0].(map[string]any)["taskArn"].(string)
	f.runTask = arn[strings.LastIndex(arn, "/")+1:]
	h.Call("CreateService", map[string]any{"cluster": "c", "serviceName": "web", "taskDefinition": td, "desiredCount": 2})
	f.settle()
	for _, tk := range f.live() {
		if tk.ServiceName == "web" {
			f.web = append(f.web, tk.ID)
		}
	}
	if len(f.web) != 2 || len(f.live()) != 3 {
		t.Fatalf("fixture: %d service tasks, %d live tasks; want 2 and 3", len(f.web), len(f.live()))
	}
	return f
}

// settle runs both controllers, with the harness's agents doing at once
// what they are told, until nothing more happens.
func (f *fixture) settle() {
	for range 20 {
		before := f.h.Store.Revision()
		f.c.Reconcile(context.Background())
		f.services.Reconcile(context.Background())
		f.h.RunAll("c")
		if f.h.Store.Revision() == before {
			return
		}
	}
}

func (f *fixture) live() []*state.Task {
	return f.h.Tasks("c", func(t *state.Task) bool { return t.LastStatus != "STOPPED" })
}

func (f *fixture) task(id string) *state.Task {
	f.h.T.Helper()
	_, t, err := f.h.State.Task(f.h.Scope, "c", id)
	if err != nil || t == nil {
		f.h.T.Fatalf("task %s: %v", id, err)
	}
	return t
}

func (f *fixture) inst(id string) *state.Instance {
	_, r, _ := f.h.State.Instance(f.h.Scope, "c", id)
	return r
}

// Rules of lost tasks: each case does something to the fixture's instance,
// moves the clock, runs one pass, and says whether the tasks are lost and
// with which stoppedReason.
func TestLostTasks(t *testing.T) {
	disconnect := func(f *fixture) { f.h.SetAgentConnected("c", f.instance, false) }
	cases := []struct {
		name    string
		act     func(*fixture)
		advance time.Duration
		reason  string        // "": the tasks are kept
		wake    time.Duration // for kept tasks: when the pass asks to run again
	}{
		{name: "an agent disconnected for less than the grace period keeps its tasks", act: disconnect,
			advance: DefaultAgentLostAfter - time.Second, wake: time.Second},
		{name: "past the grace period every task is STOPPED", act: disconnect,
			advance: DefaultAgentLostAfter, reason: "Task stopped because its container instance's agent has been disconnected for more than 5m0s."},
		{name: "a deregistered instance's tasks are STOPPED at once", act: func(f *fixture) {
			f.h.Call("DeregisterContainerInstance", map[string]any{"cluster": "c", "containerInstance": f.instance, "force": true})
		}, reason: state.ReasonInstanceDeregistered},
		{name: "the tasks of an instance that is gone are STOPPED at once", act: func(f *fixture) {
			key := f.h.Scope.Key(state.KindInstance, "c", f.instance)
			o, _ := f.h.Store.Get(key)
			if _, err := f.h.Store.Commit(context.Background(), store.Delete(key, o.Rev)); err != nil {
				f.h.T.Fatal(err)
			}
		}, reason: state.ReasonInstanceDeregistered},
		{name: "an agent whose server died is lost the grace period after its liveness key went", act: func(f *fixture) {
			f.h.DropLiveness("c", f.instance)
			f.c.Reconcile(context.Background()) // marks it disconnected, from now
		}, advance: DefaultAgentLostAfter, reason: "Task stopped because its container instance's agent has been disconnected for more than 5m0s."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			registered := f.inst(f.instance).RegisteredResources
			tc.act(f)
			f.h.Clock.Advance(tc.advance)
			wake := f.c.Reconcile(context.Background())

			if tc.reason == "" {
				if n := len(f.live()); n != 3 {
					t.Fatalf("%d live tasks, want all 3 kept", n)
				}
				if wake != tc.wake {
					t.Fatalf("the pass asks to run again in %v, want %v (when the agent is lost)", wake, tc.wake)
				}
				return
			}
			rt := f.task(f.runTask)
			if rt.LastStatus != "STOPPED" || rt.StopCode != string(ecs.TaskStopCodeInfrastructureHealth) || rt.StoppedReason != tc.reason {
				t.Fatalf("RunTask task: %s, stopCode %q, reason %q", rt.LastStatus, rt.StopCode, rt.StoppedReason)
			}
			for _, id := range f.web {
				st := f.task(id)
				if st.LastStatus != "STOPPED" || st.StopCode != string(ecs.TaskStopCodeServiceSchedulerInitiated) || st.StoppedReason != tc.reason || !st.Released {
					t.Fatalf("service task %s: %s, stopCode %q, reason %q, released %v", id, st.LastStatus, st.StopCode, st.StoppedReason, st.Released)
				}
			}
			if inst := f.inst(f.instance); inst != nil && !slices.EqualFunc(inst.RemainingResources, registered, sameResource) {
				t.Fatalf("remaining %+v, want the registered %+v", inst.RemainingResources, registered)
			}
			r := f.h.Service("c", "web")
			want := "(service web) has stopped 2 running tasks: (task " + f.web[0] + ") (task " + f.web[1] + ")."
			alt := "(service web) has stopped 2 running tasks: (task " + f.web[1] + ") (task " + f.web[0] + ")."
			if len(r.Events) == 0 || (r.Events[0].Message != want && r.Events[0].Message != alt) {
				t.Fatalf("the service's newest event: %+v, want %q", r.Events, want)
			}

			// The service scheduler replaces them on a new instance, and
			// does not count them as failures.
			other := f.h.Fleet("c", 1, 2048, 2048)[0]
			f.settle()
			live := f.live()
			if len(live) != 2 || live[0].InstanceID != other || live[1].InstanceID != other {
				t.Fatalf("after the stop, live tasks %+v; want the service's 2 on %s", live, other)
			}
			if p := f.h.Service("c", "web").Primary(); p.FailedTasks != 0 {
				t.Fatalf("the lost tasks counted as %d failures", p.FailedTasks)
			}
		})
	}
}

func sameResource(a, b ecs.Resource) bool {
	return ecs.Val(a.Name) == ecs.Val(b.Name) && ecs.Val(a.IntegerValue) == ecs.Val(b.IntegerValue) &&
		slices.Equal(a.StringSetValue, b.StringSetValue)
}

// Rules of liveness: an instance stays connected only while a liveness key
// names the session its record names.
func TestLiveness(t *testing.T) {
	cases := []struct {
		name      string
		act       func(h *controllertest.Harness, id string)
		connected bool
	}{
		{"a liveness key naming the session keeps it connected", func(*controllertest.Harness, string) {}, true},
		{"a connected instance whose liveness key is absent becomes disconnected", func(h *controllertest.Harness, id string) {
			h.DropLiveness("c", id)
		}, false},
		{"a liveness key naming another session does not vouch for this one", func(h *controllertest.Harness, id string) {
			key := h.Scope.AgentKey("c", id)
			if _, err := h.Store.Commit(context.Background(), store.PutAny(key, state.AgentLiveness{Session: "another"})); err != nil {
				h.T.Fatal(err)
			}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := controllertest.New(t)
			c := New(h.State, Options{Now: h.Clock.Now, Log: h.Log})
			id := h.Fleet("c", 1, 1024, 1024)[0]
			_, before, _ := h.State.Instance(h.Scope, "c", id)
			tc.act(h, id)
			h.Clock.Advance(time.Minute)
			c.Reconcile(context.Background())
			_, inst, _ := h.State.Instance(h.Scope, "c", id)
			if tc.connected {
				if !inst.AgentConnected || inst.AgentSession != before.AgentSession || inst.AgentDisconnectedAt != nil {
					t.Fatalf("live agent: connected %v, session %q (was %q)", inst.AgentConnected, inst.AgentSession, before.AgentSession)
				}
				return
			}
			if inst.AgentConnected || inst.AgentSession != "" || inst.AgentDisconnectedAt == nil || !inst.AgentDisconnectedAt.Equal(h.Clock.Now()) {
				t.Fatalf("agent not marked disconnected now: connected %v, session %q, disconnected at %v (now %v)",
					inst.AgentConnected, inst.AgentSession, inst.AgentDisconnectedAt, h.Clock.Now())
			}
		})
	}
}

// The race of a reconnect through another server with the leader's look
// at a key that had gone: the agent connects again (record and key
// written together) after the controller read the old record. The
// controller's write must lose, and the new session stand.
func TestMarkDisconnectedLosesToAReconnect(t *testing.T) {
	h := controllertest.New(t)
	c := New(h.State, Options{Now: h.Clock.Now, Log: h.Log})
	id := h.Fleet("c", 1, 1024, 1024)[0]
	h.DropLiveness("c", id)
	o, stale, _ := h.State.Instance(h.Scope, "c", id) // what the controller read: connected, no key
	h.SetAgentConnected("c", id, true)                // the reconnect, elsewhere
	_, fresh, _ := h.State.Instance(h.Scope, "c", id)

	err := c.markDisconnected(context.Background(), h.Scope, o, stale, nil, h.Clock.Now())
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("marking the old session disconnected: want ErrConflict, got %v", err)
	}
	// Even with the record's guard alone passing (a record unchanged), a
	// key that appeared since the look keeps the write out.
	lo, _ := h.Store.Get(h.Scope.AgentKey("c", id))
	o2, cur, _ := h.State.Instance(h.Scope, "c", id)
	if err := c.markDisconnected(context.Background(), h.Scope, o2, cur, nil, h.Clock.Now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a look that saw no key, with the key %s there: want ErrConflict, got %v", lo.Key, err)
	}
	c.Reconcile(context.Background())
	_, inst, _ := h.State.Instance(h.Scope, "c", id)
	if !inst.AgentConnected || inst.AgentSession != fresh.AgentSession {
		t.Fatalf("the new session did not stand: connected %v, session %q, want %q", inst.AgentConnected, inst.AgentSession, fresh.AgentSession)
	}
}
