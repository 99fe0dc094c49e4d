package engine

import (
	"maps"
	"slices"
	"testing"
	"testing/synctest"

	acsmsg "github.com/berth-project/berth/api/acs"
)

// leftover is a container an earlier run of the agent left in Docker.
type leftover struct {
	def   acsmsg.Container
	state string // created, running or exited
	code  int    // exit code, when exited
}

// TestAdoptionAfterRestart restarts the agent over the containers of an
// earlier run: it must carry on with them, never create a second one, and
// start only those that were created but never started.
func TestAdoptionAfterRestart(t *testing.T) {
	web, sidecar := containerDef("web"), containerDef("sidecar", nonEssential)
	cases := []struct {
		name      string
		defs      []acsmsg.Container // the task's definition, sent again after the restart
		leftovers []leftover
		want      string            // the task's status
		reason    string            // the task's stoppedReason
		states    map[string]string // what is reported of each container
		creates   []string          // containers the engine must create, once each; no other
		starts    []string          // containers the engine must start, once each; no other
	}{
		{
			name: "a running container is carried on with as it is",
			defs: []acsmsg.Container{web}, leftovers: []leftover{{def: web, state: "running"}},
			want: statusRunning, states: map[string]string{"web": "RUNNING"},
		},
		{
			name: "a container created but never started is started, not created again",
			defs: []acsmsg.Container{web}, leftovers: []leftover{{def: web, state: "created"}},
			want: statusRunning, states: map[string]string{"web": "RUNNING"}, starts: []string{"web"},
		},
		{
			name: "a non-essential container that exited meanwhile is reported stopped, not restarted",
			defs: []acsmsg.Container{web, sidecar}, leftovers: []leftover{{def: web, state: "running"}, {def: sidecar, state: "exited", code: 3}},
			want: statusRunning, states: map[string]string{"web": "RUNNING", "sidecar": "STOPPED:3"},
		},
		{
			name: "an essential container that exited meanwhile stops its task",
			defs: []acsmsg.Container{web, sidecar}, leftovers: []leftover{{def: web, state: "exited", code: 1}, {def: sidecar, state: "running"}},
			want: statusStopped, reason: "Essential container in task exited",
			states: map[string]string{"web": "STOPPED:1", "sidecar": "STOPPED:143"},
		},
		{
			name: "a container the earlier run had not created yet is created once",
			defs: []acsmsg.Container{web, sidecar}, leftovers: []leftover{{def: web, state: "running"}},
			want: statusRunning, states: map[string]string{"web": "RUNNING", "sidecar": "RUNNING"},
			creates: []string{"sidecar"}, starts: []string{"sidecar"},
		},
		{
			name: "a half-started task with an exited, a running and a created container finishes starting",
			defs: []acsmsg.Container{containerDef("init", nonEssential), web, sidecar},
			leftovers: []leftover{{def: containerDef("init", nonEssential), state: "exited", code: 0},
				{def: web, state: "running"}, {def: sidecar, state: "created"}},
			want: statusRunning, states: map[string]string{"init": "STOPPED:0", "web": "RUNNING", "sidecar": "RUNNING"},
			starts: []string{"sidecar"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := taskDef("adopted", tc.defs...)
				arn := *tk.Arn
				ids := map[string]string{}
				for _, l := range tc.leftovers {
					ids[*l.def.Name] = h.f.leftover(tk, l.def, testCluster, testInstance, l.state, l.code)
				}
				if err := h.e.Adopt(t.Context()); err != nil {
					t.Fatal(err)
				}
				h.run()
				h.apply(tk) // the control plane sends its tasks again to a reconnecting agent
				h.waitReport(arn, tc.want)
				h.settle()

				r := h.last(arn)
				if r.Status != tc.want || r.Reason != tc.reason {
					t.Errorf("last report %s (%q); want %s (%q)", r.Status, r.Reason, tc.want, tc.reason)
				}
				if got := statuses(r); !maps.Equal(got, tc.states) {
					t.Errorf("containers reported %v; want %v", got, tc.states)
				}
				for name, id := range ids {
					if got := runtimeID(r, name); got != id {
						t.Errorf("%s reported as %s; want the earlier run's %s", name, got, id)
					}
				}
				for _, def := range tc.defs {
					name := *def.Name
					if got, want := h.f.count("Create", name), wantCalls(tc.creates, name); got != want {
						t.Errorf("%s created %d times; want %d", name, got, want)
					}
					if got, want := h.f.count("Start", name), wantCalls(tc.starts, name); got != want {
						t.Errorf("%s started %d times; want %d", name, got, want)
					}
				}
			})
		})
	}

	t.Run("containers of another cluster are left alone", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			ours, theirs := taskDef("ours", web), taskDef("theirs", containerDef("stranger"))
			h.f.leftover(ours, web, testCluster, testInstance, "running", 0)
			h.f.leftover(theirs, containerDef("stranger"), "another-cluster", testInstance, "created", 0)
			if err := h.e.Adopt(t.Context()); err != nil {
				t.Fatal(err)
			}
			h.run()
			h.apply(ours)
			h.waitReport(*ours.Arn, statusRunning)
			h.settle()
			if got := slices.Collect(maps.Keys(h.e.Running())); !slices.Equal(got, []string{*ours.Arn}) {
				t.Errorf("the engine runs %v; want only %s", got, *ours.Arn)
			}
			if n := len(h.reportsOf(*theirs.Arn)); n != 0 {
				t.Errorf("the other cluster's task was reported %d times", n)
			}
			if h.f.count("Start", "stranger") != 0 || h.f.state("stranger") != "created" {
				t.Errorf("the other cluster's container was started")
			}
		})
	})
}

// TestAdoptionLeavesOtherBerthsAlone runs the engine over an Engine that
// another Berth shares: containers of its cluster that this instance did
// not create (another instance's, or an earlier Berth's without an
// instance label) are never adopted, stopped or reported, even when the
// control plane asks to stop their tasks or Docker announces their exit.
func TestAdoptionLeavesOtherBerthsAlone(t *testing.T) {
	web := containerDef("web")
	for _, other := range []struct{ name, instance string }{
		{"another instance of the same cluster", "arn:aws:ecs:us-east-1:000000000000:container-instance/default/fedcba9876543210"},
		{"a Berth that did not label its containers' instance", ""},
	} {
		t.Run(other.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				ours, running, exited := taskDef("ours", web), taskDef("theirs", containerDef("stranger")), taskDef("theirs-done", containerDef("finished"))
				h.f.leftover(ours, web, testCluster, testInstance, "running", 0)
				h.f.leftover(running, containerDef("stranger"), testCluster, other.instance, "running", 0)
				h.f.leftover(exited, containerDef("finished"), testCluster, other.instance, "exited", 1)
				if err := h.e.Adopt(t.Context()); err != nil {
					t.Fatal(err)
				}
				h.run()
				h.apply(ours)
				h.waitReport(*ours.Arn, statusRunning)
				h.e.Stop([]string{*running.Arn, *exited.Arn}) // a task manifest that does not list them
				h.settle()
				h.f.exit("stranger", 0) // its own process ends: Docker's die event
				h.settle()
				if got := slices.Collect(maps.Keys(h.e.Running())); !slices.Equal(got, []string{*ours.Arn}) {
					t.Errorf("the engine runs %v; want only %s", got, *ours.Arn)
				}
				for _, arn := range []string{*running.Arn, *exited.Arn} {
					if n := len(h.attemptsOf(arn, statusRunning)) + len(h.attemptsOf(arn, statusStopped)); n != 0 {
						t.Errorf("%s, not this instance's, was reported %d times", arn, n)
					}
				}
				if n := len(h.f.stops("stranger")); n != 0 {
					t.Errorf("the other Berth's container was stopped %d times", n)
				}
			})
		})
	}
}

// TestUnlabelledContainerOfASentTask: after an upgrade from a Berth that
// did not label its containers' instance, the agent does not adopt them,
// but the control plane sends the tasks it still runs there again, and the
// engine finds each container under its fixed name: carried on, not
// created a second time nor restarted.
func TestUnlabelledContainerOfASentTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		tk := taskDef("upgraded", containerDef("web"))
		id := h.f.leftover(tk, containerDef("web"), testCluster, "", "running", 0)
		if err := h.e.Adopt(t.Context()); err != nil {
			t.Fatal(err)
		}
		h.run()
		h.apply(tk)
		r := h.waitReport(*tk.Arn, statusRunning)
		h.settle()
		if got := runtimeID(r, "web"); got != id {
			t.Errorf("web reported as %s; want the earlier Berth's %s", got, id)
		}
		if h.f.happened("start web") >= 0 || h.f.happened("create web") >= 0 {
			t.Errorf("web was created or started again: %s", h.f.historyString())
		}
	})
}

// wantCalls is 1 when name is listed, else 0.
func wantCalls(listed []string, name string) int {
	if slices.Contains(listed, name) {
		return 1
	}
	return 0
}
