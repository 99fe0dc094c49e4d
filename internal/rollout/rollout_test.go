package rollout

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestBounds(t *testing.T) {
	for _, c := range []struct{ desired, min, max, wantMin, wantMax int }{
		{4, 100, 200, 4, 8},
		{3, 50, 200, 2, 6},  // 1.5 rounds up
		{3, 100, 150, 3, 4}, // 4.5 rounds down
		{10, 0, 100, 0, 10}, // DAEMON's defaults
		{0, 100, 200, 0, 0}, // scaled to zero
		{1, 100, 100, 1, 1}, // no room either way
		{7, 75, 125, 6, 8},  // 5.25 -> 6, 8.75 -> 8
		{50, 100, 200, 50, 100},
	} {
		gotMin, gotMax := Bounds(c.desired, c.min, c.max)
		if gotMin != c.wantMin || gotMax != c.wantMax {
			t.Errorf("Bounds(%d, %d, %d) = %d, %d; want %d, %d", c.desired, c.min, c.max, gotMin, gotMax, c.wantMin, c.wantMax)
		}
	}
}

func tasks(deployment string, n int, healthy bool, from int) []Task {
	var out []Task
	for i := 0; i < n; i++ {
		out = append(out, Task{ID: fmt.Sprintf("%s-%d", deployment, from+i), Deployment: deployment, Healthy: healthy, Order: int64(from + i)})
	}
	return out
}

func count(stops []Stop, why Why) int {
	n := 0
	for _, s := range stops {
		if s.Why == why {
			n++
		}
	}
	return n
}

func TestPlanReplica(t *testing.T) {
	cases := []struct {
		name  string
		in    Replica
		start int
		stops map[Why]int
	}{
		{"fresh service starts all", Replica{Desired: 5, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true}, 5, nil},
		{"steady does nothing", Replica{Desired: 3, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true, Tasks: tasks("d1", 3, true, 0)}, 0, nil},
		{"backing off starts nothing", Replica{Desired: 3, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", Tasks: tasks("d1", 1, true, 0)}, 0, nil},
		{"scale out", Replica{Desired: 5, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true, Tasks: tasks("d1", 2, true, 0)}, 3, nil},
		{"scale in stops pending first", Replica{Desired: 1, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true,
			Tasks: append(tasks("d1", 2, true, 0), tasks("d1", 1, false, 5)...)}, 0, map[Why]int{ScaleIn: 2}},
		{"scale to zero", Replica{Desired: 0, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true, Tasks: tasks("d1", 3, true, 0)}, 0, map[Why]int{ScaleIn: 3}},
		{"deployment with 200% starts all new, stops nothing yet", Replica{Desired: 4, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d2", CanLaunch: true, Tasks: tasks("d1", 4, true, 0)}, 4, nil},
		{"new tasks healthy: old go one for one", Replica{Desired: 4, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d2", CanLaunch: true,
			Tasks: append(tasks("d1", 4, true, 0), append(tasks("d2", 2, true, 10), tasks("d2", 2, false, 12)...)...)}, 0, map[Why]int{Replaced: 2}},
		{"min 50 max 100 stops half first", Replica{Desired: 4, MinimumHealthyPercent: 50, MaximumPercent: 100, Primary: "d2", CanLaunch: true, Tasks: tasks("d1", 4, true, 0)}, 0, map[Why]int{Replaced: 2}},
		{"min 100 max 100 cannot move", Replica{Desired: 2, MinimumHealthyPercent: 100, MaximumPercent: 100, Primary: "d2", CanLaunch: true, Tasks: tasks("d1", 2, true, 0)}, 0, nil},
		{"old pending tasks go at once", Replica{Desired: 2, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d2", CanLaunch: true, Tasks: tasks("d1", 2, false, 0)}, 2, map[Why]int{Replaced: 2}},
		{"unhealthy replaced", Replica{Desired: 2, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true,
			Tasks: []Task{{ID: "a", Deployment: "d1", Healthy: true}, {ID: "b", Deployment: "d1", Unhealthy: true}}}, 1, map[Why]int{Unhealthy: 1}},
		{"draining moved after replacement is healthy", Replica{Desired: 2, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true,
			Tasks: []Task{{ID: "a", Deployment: "d1", Healthy: true}, {ID: "b", Deployment: "d1", Healthy: true, Draining: true}}}, 1, nil},
		{"draining stopped once replaced", Replica{Desired: 2, MinimumHealthyPercent: 100, MaximumPercent: 200, Primary: "d1", CanLaunch: true,
			Tasks: []Task{{ID: "a", Deployment: "d1", Healthy: true}, {ID: "b", Deployment: "d1", Healthy: true, Draining: true}, {ID: "c", Deployment: "d1", Healthy: true}}}, 0, map[Why]int{Draining: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanReplica(c.in)
			if p.Start != c.start {
				t.Errorf("start %d, want %d", p.Start, c.start)
			}
			total := 0
			for why, n := range c.stops {
				total += n
				if got := count(p.Stop, why); got != n {
					t.Errorf("stops for %v: %d, want %d (%+v)", why, got, n, p.Stop)
				}
			}
			if len(p.Stop) != total {
				t.Errorf("stops %+v, want %v", p.Stop, c.stops)
			}
		})
	}
}

// TestReplicaRollingUpdateStaysInBounds plays a deployment out: each round
// the plan is applied, some started tasks become healthy and some stopped
// ones finish stopping, at random. At every moment the service stays within
// its bounds, and it ends with desired healthy tasks of the new deployment.
func TestReplicaRollingUpdateStaysInBounds(t *testing.T) {
	for _, cfg := range [][3]int{{10, 100, 200}, {10, 50, 100}, {10, 50, 150}, {7, 75, 125}, {50, 100, 200}, {3, 0, 100}, {1, 0, 100}, {5, 100, 120}} {
		desired, minPct, maxPct := cfg[0], cfg[1], cfg[2]
		t.Run(fmt.Sprint(cfg), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(desired)))
			minHealthy, maxTotal := Bounds(desired, minPct, maxPct)
			state := tasks("d1", desired, true, 0)
			next := desired
			for round := 0; round < 1000; round++ {
				p := PlanReplica(Replica{Desired: desired, MinimumHealthyPercent: minPct, MaximumPercent: maxPct, Primary: "d2", CanLaunch: true, Tasks: state})
				for _, s := range p.Stop {
					for i := range state {
						if state[i].ID == s.ID {
							state[i].Stopping = true
						}
					}
				}
				state = append(state, tasks("d2", p.Start, false, next)...)
				next += p.Start
				healthy := 0
				for _, tk := range state {
					if !tk.Stopping && tk.Healthy {
						healthy++
					}
				}
				if len(state) > maxTotal {
					t.Fatalf("round %d: %d tasks, more than the maximum %d", round, len(state), maxTotal)
				}
				if healthy < minHealthy {
					t.Fatalf("round %d: %d healthy, fewer than the minimum %d", round, healthy, minHealthy)
				}
				// The world moves on.
				var after []Task
				for _, tk := range state {
					if tk.Stopping && rng.IntN(2) == 0 {
						continue // reported STOPPED
					}
					if !tk.Healthy && rng.IntN(2) == 0 {
						tk.Healthy = true
					}
					after = append(after, tk)
				}
				state = after
				done := len(state) == desired
				for _, tk := range state {
					done = done && tk.Deployment == "d2" && tk.Healthy && !tk.Stopping
				}
				if done {
					return
				}
			}
			t.Fatalf("the deployment never finished: %+v", state)
		})
	}
}

func TestPlanDaemon(t *testing.T) {
	inst := func(id string, eligible bool, ts ...Task) DaemonInstance {
		return DaemonInstance{ID: id, Eligible: eligible, Tasks: ts}
	}
	t.Run("one task per eligible instance", func(t *testing.T) {
		p := PlanDaemon(Daemon{Primary: "d1", CanLaunch: true, Instances: []DaemonInstance{
			inst("i1", true), inst("i2", true, Task{ID: "a", Deployment: "d1", Healthy: true}), inst("i3", false)}})
		if fmt.Sprint(p.On) != "[i1]" || len(p.Stop) != 0 {
			t.Fatalf("plan %+v", p)
		}
	})
	t.Run("ineligible instance emptied, duplicates removed", func(t *testing.T) {
		p := PlanDaemon(Daemon{Primary: "d1", CanLaunch: true, Instances: []DaemonInstance{
			inst("i1", false, Task{ID: "a", Deployment: "d1", Healthy: true}),
			inst("i2", true, Task{ID: "b", Deployment: "d1", Healthy: true, Order: 1}, Task{ID: "c", Deployment: "d1", Healthy: true, Order: 2})}})
		if len(p.On) != 0 || count(p.Stop, Ineligible) != 1 || count(p.Stop, ScaleIn) != 1 || p.Stop[1].ID != "c" {
			t.Fatalf("plan %+v", p)
		}
	})
	t.Run("new revision: old stopped first, new started where nothing is left", func(t *testing.T) {
		in := Daemon{Primary: "d2", CanLaunch: true, Instances: []DaemonInstance{
			inst("i1", true, Task{ID: "a", Deployment: "d1", Healthy: true}),
			inst("i2", true, Task{ID: "b", Deployment: "d1", Healthy: true, Stopping: true}),
			inst("i3", true)}}
		p := PlanDaemon(in)
		if fmt.Sprint(p.On) != "[i3]" || count(p.Stop, Replaced) != 1 {
			t.Fatalf("plan %+v", p)
		}
		in.MinimumHealthyPercent = 50 // 2 of 3 must stay healthy: only "a" is
		if p := PlanDaemon(in); count(p.Stop, Replaced) != 0 {
			t.Fatalf("plan %+v stops below the minimum", p)
		}
	})
}
