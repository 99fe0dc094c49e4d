package gc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/controller/service"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// testCollector is the garbage collector on a harness, on its clock.
func testCollector(h *controllertest.Harness) *Controller {
	return New(h.State, Options{Now: h.Clock.Now, Log: h.Log})
}

// runTask runs one task in the cluster, as RunTask does, and answers the
// key of its record.
func runTask(h *controllertest.Harness, cluster string) (key, id string) {
	h.T.Helper()
	out := h.Call("RunTask", map[string]any{"cluster": cluster, "taskDefinition": h.TaskDefinition("job", 64)})
	tasks, _ := out["tasks"].([]any)
	if len(tasks) != 1 {
		h.T.Fatalf("RunTask: %v", out)
	}
	arn := tasks[0].(map[string]any)["taskArn"].(string)
	id = arn[strings.LastIndex(arn, "/")+1:]
	return h.Scope.Key(state.KindTask, cluster, id), id
}

// finishedTask runs a task and has its agent report it RUNNING, then
// STOPPED, now.
func finishedTask(h *controllertest.Harness, cluster string) string {
	key, id := runTask(h, cluster)
	h.Report(cluster, id, "RUNNING", nil)
	exit := int32(0)
	h.Report(cluster, id, "STOPPED", &exit)
	return key
}

// runningService creates a service of one task and lets the scheduler run
// it; the agents do at once what they are told.
func runningService(h *controllertest.Harness, sched *service.Controller, cluster, name string) string {
	h.Call("CreateService", map[string]any{"cluster": cluster, "serviceName": name, "taskDefinition": h.TaskDefinition("web", 64), "desiredCount": 1})
	settle(h, sched, cluster)
	return h.Scope.Key(state.KindService, cluster, name)
}

// settle runs scheduler passes, the agents doing what they are told, until
// a pass writes nothing.
func settle(h *controllertest.Harness, sched *service.Controller, cluster string) {
	for range 10 {
		before := h.Store.Revision()
		sched.Reconcile(context.Background())
		h.RunAll(cluster)
		if h.Store.Revision() == before {
			return
		}
	}
}

// deletedService deletes a running service, lets its task take half an
// hour to stop, and has the scheduler make it INACTIVE: its retention must
// count from then, not from the DeleteService call.
func deletedService(h *controllertest.Harness, cluster, name string) string {
	sched := testScheduler(h)
	key := runningService(h, sched, cluster, name)
	deleteService(h, sched, cluster, name)
	return key
}

func deleteService(h *controllertest.Harness, sched *service.Controller, cluster, name string) {
	h.T.Helper()
	h.Call("DeleteService", map[string]any{"cluster": cluster, "service": name, "force": true})
	sched.Reconcile(context.Background()) // tells the task to stop
	h.Clock.Advance(30 * time.Minute)
	settle(h, sched, cluster)
	if r := h.Service(cluster, name); r.Status != state.StatusInactive {
		h.T.Fatalf("service %s is %s, want INACTIVE", name, r.Status)
	}
}

func testScheduler(h *controllertest.Harness) *service.Controller {
	return service.New(h.State, h.Placer, service.Options{Now: h.Clock.Now, Log: h.Log})
}

func instanceKey(h *controllertest.Harness, cluster, id string) string {
	return h.Scope.Key(state.KindInstance, cluster, id)
}

// Each case makes a record, then moves the clock step by step, runs a
// pass after each move and checks whether the record is still stored.
func TestRetentions(t *testing.T) {
	type step struct {
		after   time.Duration // the clock moves this far before the pass
		present bool
	}
	collectedAfterAnHour := []step{{59 * time.Minute, true}, {2 * time.Minute, false}}
	never := []step{{61 * time.Minute, true}, {7 * 24 * time.Hour, true}}
	tests := []struct {
		name  string
		setup func(h *controllertest.Harness) string // answers the key to watch
		steps []step
	}{
		{"stopped task", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			return finishedTask(h, "c")
		}, collectedAfterAnHour},
		{"stopped task of another account and region", func(h *controllertest.Harness) string {
			h.Scope = state.Scope{Account: "210987654321", Region: "eu-west-1"}
			h.Fleet("c", 1, 1024, 2048)
			return finishedTask(h, "c")
		}, collectedAfterAnHour},
		{"running task", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			key, id := runTask(h, "c")
			h.Report("c", id, "RUNNING", nil)
			return key
		}, never},
		{"pending task", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			key, _ := runTask(h, "c")
			return key
		}, never},
		{"task told to stop whose agent never says it stopped", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			key, id := runTask(h, "c")
			h.Report("c", id, "RUNNING", nil)
			h.Call("StopTask", map[string]any{"cluster": "c", "task": id})
			return key
		}, never},
		{"INACTIVE service", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			return deletedService(h, "c", "web")
		}, collectedAfterAnHour},
		{"ACTIVE service", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			return runningService(h, testScheduler(h), "c", "web")
		}, never},
		{"DRAINING service whose task never stops", func(h *controllertest.Harness) string {
			h.Fleet("c", 1, 1024, 2048)
			sched := testScheduler(h)
			key := runningService(h, sched, "c", "web")
			h.Call("DeleteService", map[string]any{"cluster": "c", "service": "web", "force": true})
			sched.Reconcile(context.Background())
			return key
		}, never},
		{"INACTIVE instance", func(h *controllertest.Harness) string {
			id := h.Fleet("c", 1, 1024, 2048)[0]
			h.Call("DeregisterContainerInstance", map[string]any{"cluster": "c", "containerInstance": id})
			return instanceKey(h, "c", id)
		}, collectedAfterAnHour},
		{"ACTIVE instance", func(h *controllertest.Harness) string {
			return instanceKey(h, "c", h.Fleet("c", 1, 1024, 2048)[0])
		}, never},
		{"DRAINING instance", func(h *controllertest.Harness) string {
			id := h.Fleet("c", 1, 1024, 2048)[0]
			h.Call("UpdateContainerInstancesState", map[string]any{"cluster": "c", "containerInstances": []string{id}, "status": "DRAINING"})
			return instanceKey(h, "c", id)
		}, never},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := controllertest.New(t)
			c := testCollector(h)
			key := tc.setup(h)
			var elapsed time.Duration
			for _, s := range tc.steps {
				h.Clock.Advance(s.after)
				elapsed += s.after
				c.Reconcile(context.Background())
				if _, found := h.Store.Get(key); found != s.present {
					t.Fatalf("after %v: stored %v, want %v", elapsed, found, s.present)
				}
			}
		})
	}
}

// A pass answers when the next record falls due, so the loop sleeps until
// then instead of polling.
func TestWakesWhenTheNextRecordFallsDue(t *testing.T) {
	h := controllertest.New(t)
	c := testCollector(h)
	ctx := context.Background()
	h.Fleet("c", 1, 1024, 2048)
	if d := c.Reconcile(ctx); d != 0 {
		t.Fatalf("nothing to collect, yet woken in %v", d)
	}
	first := finishedTask(h, "c")
	if d := c.Reconcile(ctx); d != time.Hour {
		t.Fatalf("a task just stopped: woken in %v, want 1h", d)
	}
	h.Clock.Advance(20 * time.Minute)
	second := finishedTask(h, "c")
	if d := c.Reconcile(ctx); d != 40*time.Minute {
		t.Fatalf("woken in %v, want 40m (the first task)", d)
	}
	h.Clock.Advance(10 * time.Minute)
	if d := c.Reconcile(ctx); d != 30*time.Minute { // nothing changed: no reading
		t.Fatalf("woken in %v, want 30m", d)
	}
	h.Clock.Advance(30 * time.Minute)
	if d := c.Reconcile(ctx); d != 20*time.Minute {
		t.Fatalf("woken in %v, want 20m (the second task)", d)
	}
	if _, found := h.Store.Get(first); found {
		t.Fatal("the first task was not collected when due")
	}
	h.Clock.Advance(20 * time.Minute)
	if d := c.Reconcile(ctx); d != 0 {
		t.Fatalf("all collected, yet woken in %v", d)
	}
	if _, found := h.Store.Get(second); found {
		t.Fatal("the second task was not collected when due")
	}
}

// A service name used again after its deletion: DescribeServices shows
// the INACTIVE service until it is collected and MISSING after, and
// CreateService works either way. A delete decided on the INACTIVE record
// never takes the service created again over it.
func TestDeletedServiceNameUsedAgain(t *testing.T) {
	h := controllertest.New(t)
	c := testCollector(h)
	sched := testScheduler(h)
	ctx := context.Background()
	h.Fleet("c", 1, 1024, 2048)
	describe := func() (status, failure string) {
		out := h.Call("DescribeServices", map[string]any{"cluster": "c", "services": []string{"web"}})
		if s, _ := out["services"].([]any); len(s) == 1 {
			status, _ = s[0].(map[string]any)["status"].(string)
		}
		if f, _ := out["failures"].([]any); len(f) == 1 {
			failure, _ = f[0].(map[string]any)["reason"].(string)
		}
		return status, failure
	}
	create := func() {
		h.Call("CreateService", map[string]any{"cluster": "c", "serviceName": "web", "taskDefinition": h.TaskDefinition("web", 64), "desiredCount": 1})
		if r := h.Service("c", "web"); r.Status != state.StatusActive {
			t.Fatalf("the service created again is %s", r.Status)
		}
	}
	key := runningService(h, sched, "c", "web")
	deleteService(h, sched, "c", "web")
	if status, _ := describe(); status != "INACTIVE" {
		t.Fatalf("deleted service reads %q, want INACTIVE", status)
	}

	// Created again over the INACTIVE record just as it falls due.
	h.Clock.Advance(InactiveServiceRetention)
	stale, _ := h.Store.Get(key)
	create()
	if err := c.collect(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete of the INACTIVE record it saw: %v, want a conflict", err)
	}
	c.Reconcile(ctx)
	if _, found := h.Store.Get(key); !found || h.Service("c", "web").Status != state.StatusActive {
		t.Fatal("the service created again was collected")
	}

	// Deleted again and collected: the name reads MISSING, and is free.
	settle(h, sched, "c")
	deleteService(h, sched, "c", "web")
	h.Clock.Advance(InactiveServiceRetention)
	c.Reconcile(ctx)
	if status, failure := describe(); status != "" || failure != "MISSING" {
		t.Fatalf("collected service reads %q (failure %q), want MISSING", status, failure)
	}
	create()
}
