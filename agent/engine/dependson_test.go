package engine

import (
	"testing"
	"testing/synctest"

	acsmsg "github.com/berth-project/berth/api/acs"
)

// TestDependsOnOrder runs a task whose app depends on db: app must not be
// created (let alone started) until db meets the condition, and must start
// once it does; a condition that can no longer be met stops the task.
func TestDependsOnOrder(t *testing.T) {
	cases := []struct {
		name string
		cond acsmsg.ContainerCondition
		db   []func(*acsmsg.Container)
		// gate makes db meet the condition (or fail it), and names what
		// happened, as the fake's history says it.
		gate func(f *fakeRuntime) string
		// for a condition that is met: app runs after the gate.
		// Else: the task stops with reason and app is never created.
		met    bool
		reason string
	}{
		{
			name: "START: app waits until db has started",
			cond: acsmsg.ContainerConditionStart,
			gate: func(f *fakeRuntime) string { f.releaseStart("db"); return "start db" },
			met:  true,
		},
		{
			name: "COMPLETE: app waits until db has exited, whatever its code",
			cond: acsmsg.ContainerConditionComplete, db: []func(*acsmsg.Container){nonEssential},
			gate: func(f *fakeRuntime) string { f.exit("db", 1); return "exit db 1" },
			met:  true,
		},
		{
			name: "SUCCESS: app waits until db has exited 0",
			cond: acsmsg.ContainerConditionSuccess, db: []func(*acsmsg.Container){nonEssential},
			gate: func(f *fakeRuntime) string { f.exit("db", 0); return "exit db 0" },
			met:  true,
		},
		{
			name: "SUCCESS: app never starts when db exits 2, and the task stops",
			cond: acsmsg.ContainerConditionSuccess, db: []func(*acsmsg.Container){nonEssential},
			gate:   func(f *fakeRuntime) string { f.exit("db", 2); return "exit db 2" },
			reason: "dependency db exited with 2, not 0",
		},
		{
			name: "HEALTHY: app waits until db is HEALTHY",
			cond: acsmsg.ContainerConditionHealthy, db: []func(*acsmsg.Container){withHealthCheck},
			gate: func(f *fakeRuntime) string { f.setHealth("db", "HEALTHY"); return "health db HEALTHY" },
			met:  true,
		},
		{
			name: "HEALTHY: app never starts when db stops before it is HEALTHY, and the task stops",
			cond: acsmsg.ContainerConditionHealthy, db: []func(*acsmsg.Container){withHealthCheck, nonEssential},
			gate:   func(f *fakeRuntime) string { f.exit("db", 1); return "exit db 1" },
			reason: "dependency db stopped before it became HEALTHY",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := taskDef("deps", containerDef("db", tc.db...), containerDef("app", dependsOn("db", tc.cond)))
				arn := *tk.Arn
				if tc.cond == acsmsg.ContainerConditionStart {
					h.f.holdStart("db") // db's start stays in flight until the gate
				}
				h.run()
				h.apply(tk)
				h.settle()

				wantDB := "running"
				if tc.cond == acsmsg.ContainerConditionStart {
					wantDB = "created"
				}
				if got := h.f.state("db"); got != wantDB {
					t.Fatalf("before the gate db is %q; want %q", got, wantDB)
				}
				if n := h.f.count("Create", "app"); n != 0 {
					t.Fatalf("app was created before db met %s: %s", tc.cond, h.f.historyString())
				}

				gate := tc.gate(h.f)
				if !tc.met {
					r := h.waitReport(arn, statusStopped)
					if r.Reason != tc.reason {
						t.Errorf("task stopped for %q; want %q", r.Reason, tc.reason)
					}
					h.settle()
					if n := h.f.count("Create", "app"); n != 0 {
						t.Errorf("app was created %d times; want never", n)
					}
					return
				}
				h.waitFor("app to run", func() bool { return h.f.state("app") == "running" })
				if g, c := h.f.happened(gate), h.f.happened("create app"); c < g {
					t.Errorf("app was created before %q: %s", gate, h.f.historyString())
				}
				if tc.cond == acsmsg.ContainerConditionStart && h.f.startOrder("app") < h.f.startOrder("db") {
					t.Errorf("app started before db: %s", h.f.historyString())
				}
				h.waitReport(arn, statusRunning)
			})
		})
	}
}
