package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/berth-project/berth/internal/scheduler/query"
)

func inst(id string, cpu, mem int64) *Candidate {
	return &Candidate{ID: id, ARN: "arn:" + id, Status: "ACTIVE", AgentConnected: true, CPU: cpu, Memory: mem,
		Attributes: map[string]string{}, Groups: map[string]int{}}
}

func mustParse(t *testing.T, s string) query.Expr {
	t.Helper()
	e, err := query.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestFilters(t *testing.T) {
	draining := inst("d", 1024, 1024)
	draining.Status = "DRAINING"
	gone := inst("g", 1024, 1024)
	gone.AgentConnected = false
	tagged := inst("t", 1024, 1024)
	tagged.Attributes["stack"] = "prod"
	busy := inst("b", 1024, 1024)
	busy.UsedPorts, busy.UsedUDP, busy.Groups["family:web"] = []string{"22", "80"}, []string{"53"}, 1
	gpu := inst("gpu", 1024, 1024)
	gpu.FreeGPUs = []string{"GPU-0"}
	ephemeral := inst("e", 1024, 1024)
	ephemeral.DynamicPortsFree = 2
	for _, tc := range []struct {
		name string
		f    filter
		c    *Candidate
		d    Demand
		want string
	}{
		{"ACTIVE passes", active, inst("a", 1, 1), Demand{}, ""},
		{"DRAINING fails", active, draining, Demand{}, ReasonDraining},
		{"connected agent passes", agentConnected, inst("a", 1, 1), Demand{}, ""},
		{"disconnected agent fails", agentConnected, gone, Demand{}, ReasonAgent},
		{"attribute by name", requiredAttributes, tagged, Demand{Attributes: []Attribute{{Name: "stack"}}}, ""},
		{"attribute by value", requiredAttributes, tagged, Demand{Attributes: []Attribute{{Name: "stack", Value: "prod"}}}, ""},
		{"attribute with another value", requiredAttributes, tagged, Demand{Attributes: []Attribute{{Name: "stack", Value: "dev"}}}, ReasonAttribute},
		{"missing attribute", requiredAttributes, inst("a", 1, 1), Demand{Attributes: []Attribute{{Name: "ecs.capability.task-eni"}}}, ReasonAttribute},
		{"memberOf matches", memberOf, tagged, Demand{Constraints: []Constraint{{Type: MemberOf, Expr: mustParse(t, "attribute:stack == prod")}}}, ""},
		{"memberOf does not match", memberOf, tagged, Demand{Constraints: []Constraint{{Type: MemberOf, Expr: mustParse(t, "attribute:stack != prod")}}}, ReasonMemberOf},
		{"memberOf on task groups", memberOf, busy, Demand{Constraints: []Constraint{{Type: MemberOf, Expr: mustParse(t, "task:group == family:web")}}}, ""},
		{"cpu fits exactly", cpu, inst("a", 512, 0), Demand{CPU: 512}, ""},
		{"cpu short", cpu, inst("a", 511, 0), Demand{CPU: 512}, ReasonCPU},
		{"memory fits exactly", memory, inst("a", 0, 256), Demand{Memory: 256}, ""},
		{"memory short", memory, inst("a", 0, 255), Demand{Memory: 256}, ReasonMemory},
		{"free port", ports, busy, Demand{Ports: []string{"8080"}}, ""},
		{"port in use", ports, busy, Demand{Ports: []string{"8080", "80"}}, ReasonPorts},
		{"room in the dynamic range", ports, ephemeral, Demand{DynamicPorts: 2}, ""},
		{"dynamic range used up", ports, ephemeral, Demand{DynamicPorts: 3}, ReasonPorts},
		{"TCP port does not take UDP", portsUDP, busy, Demand{PortsUDP: []string{"80"}}, ""},
		{"UDP port in use", portsUDP, busy, Demand{PortsUDP: []string{"53"}}, ReasonPortsUDP},
		{"GPU free", gpus, gpu, Demand{GPUs: 1}, ""},
		{"not enough GPUs", gpus, gpu, Demand{GPUs: 2}, ReasonGPU},
		{"distinctInstance, group absent", distinctInstance, busy, Demand{Group: "family:db", Constraints: []Constraint{{Type: DistinctInstance}}}, ""},
		{"distinctInstance, group present", distinctInstance, busy, Demand{Group: "family:web", Constraints: []Constraint{{Type: DistinctInstance}}}, ReasonDistinctInstance},
		{"no distinctInstance constraint", distinctInstance, busy, Demand{Group: "family:web"}, ""},
	} {
		if got := tc.f(tc.c, &tc.d); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckStrategy(t *testing.T) {
	for _, tc := range []struct {
		s  Strategy
		ok bool
	}{
		{Strategy{Binpack, "memory"}, true},
		{Strategy{Binpack, "cpu"}, true},
		{Strategy{Binpack, "disk"}, false},
		{Strategy{Spread, "instanceId"}, true},
		{Strategy{Spread, "host"}, true},
		{Strategy{Spread, "attribute:ecs.availability-zone"}, true},
		{Strategy{Spread, ""}, false},
		{Strategy{Spread, "zone"}, false},
		{Strategy{Random, ""}, true},
		{Strategy{"pack", "memory"}, false},
	} {
		if err := CheckStrategy(tc.s); (err == nil) != tc.ok {
			t.Errorf("%+v: err %v", tc.s, err)
		}
	}
}

func ids(r Result) []string {
	var out []string
	for _, p := range r.Placed {
		out = append(out, p.Candidate.ID)
	}
	return out
}

func rng() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestBinpackFillsTheFullestInstanceFirst(t *testing.T) {
	a, b, c := inst("a", 4096, 2048), inst("b", 4096, 1024), inst("c", 4096, 4096)
	d := &Demand{Memory: 512, Group: "g", Strategies: []Strategy{{Binpack, "memory"}}}
	got := fmt.Sprint(ids(Place([]*Candidate{a, b, c}, d, 8, rng())))
	// b (1024) takes two, then a (2048) four, then c.
	if want := "[b b a a a a c c]"; got != want {
		t.Fatalf("placed on %s, want %s", got, want)
	}
	if b.Memory != 0 || a.Memory != 0 || c.Memory != 3072 || c.Placed != 2 {
		t.Fatalf("remaining a %d b %d c %d", a.Memory, b.Memory, c.Memory)
	}
}

func TestBinpackOnCPU(t *testing.T) {
	a, b := inst("a", 1024, 1024), inst("b", 512, 1024)
	d := &Demand{CPU: 256, Strategies: []Strategy{{Binpack, "cpu"}}}
	if got := fmt.Sprint(ids(Place([]*Candidate{a, b}, d, 3, rng()))); got != "[b b a]" {
		t.Fatalf("placed on %s", got)
	}
}

func TestSpreadOverAttributeBalancesAndCountsExistingTasks(t *testing.T) {
	var cands []*Candidate
	zones := map[string]string{}
	for i, z := range []string{"a", "a", "a", "b", "c"} {
		c := inst(fmt.Sprint("i", i), 8192, 8192)
		c.Attributes["ecs.availability-zone"] = z
		zones[c.ID] = z
		cands = append(cands, c)
	}
	cands[4].Groups["g"] = 2 // zone c already has two
	d := &Demand{Memory: 128, Group: "g", Strategies: []Strategy{{Spread, "attribute:ecs.availability-zone"}, {Spread, "instanceId"}}}
	res := Place(cands, d, 7, rng())
	perZone := map[string]int{"c": 2}
	perInstance := map[string]int{}
	for _, p := range res.Placed {
		perZone[zones[p.Candidate.ID]]++
		perInstance[p.Candidate.ID]++
	}
	if perZone["a"] != 3 || perZone["b"] != 3 || perZone["c"] != 3 {
		t.Fatalf("per zone %v", perZone)
	}
	// Within zone a the second strategy spreads over its three instances.
	if perInstance["i0"] != 1 || perInstance["i1"] != 1 || perInstance["i2"] != 1 {
		t.Fatalf("per instance %v", perInstance)
	}
}

func TestSpreadOverInstances(t *testing.T) {
	a, b, c := inst("a", 8192, 8192), inst("b", 8192, 8192), inst("c", 8192, 8192)
	a.Groups["g"] = 3
	d := &Demand{Memory: 1, Group: "g", Strategies: []Strategy{{Spread, "host"}}}
	Place([]*Candidate{a, b, c}, d, 6, rng())
	if a.Groups["g"] != 3 || b.Groups["g"] != 3 || c.Groups["g"] != 3 {
		t.Fatalf("groups a %d b %d c %d", a.Groups["g"], b.Groups["g"], c.Groups["g"])
	}
}

func TestRandomUsesEveryInstance(t *testing.T) {
	var cands []*Candidate
	for i := range 4 {
		cands = append(cands, inst(fmt.Sprint(i), 1<<20, 1<<20))
	}
	seen := map[string]bool{}
	for _, id := range ids(Place(cands, &Demand{Memory: 1, Strategies: []Strategy{{Type: Random}}}, 200, rng())) {
		seen[id] = true
	}
	if len(seen) != 4 {
		t.Fatalf("random placement used %d of 4 instances", len(seen))
	}
}

func TestDistinctInstancePlacesOnePerInstance(t *testing.T) {
	a, b, c := inst("a", 4096, 4096), inst("b", 4096, 4096), inst("c", 4096, 4096)
	d := &Demand{Memory: 128, Group: "g", Constraints: []Constraint{{Type: DistinctInstance}}}
	res := Place([]*Candidate{a, b, c}, d, 4, rng())
	if len(res.Placed) != 3 || a.Groups["g"] != 1 || b.Groups["g"] != 1 || c.Groups["g"] != 1 {
		t.Fatalf("placed %v", ids(res))
	}
	if len(res.Failures) != 3 || res.Failures[0].Reason != ReasonDistinctInstance {
		t.Fatalf("failures %+v", res.Failures)
	}
}

func TestFailuresNameEachInstanceAndItsFirstReason(t *testing.T) {
	full := inst("full", 4096, 100)
	gone := inst("gone", 4096, 4096)
	gone.AgentConnected = false
	draining := inst("draining", 4096, 4096)
	draining.Status = "DRAINING"
	ported := inst("ported", 4096, 4096)
	ported.UsedPorts = []string{"80"}
	res := Place([]*Candidate{full, gone, draining, ported}, &Demand{Memory: 256, Ports: []string{"80"}}, 1, rng())
	want := "[{arn:full RESOURCE:MEMORY} {arn:gone AGENT} {arn:draining DRAINING} {arn:ported RESOURCE:PORTS}]"
	if len(res.Placed) != 0 || fmt.Sprint(res.Failures) != want {
		t.Fatalf("placed %v failures %v", ids(res), res.Failures)
	}
}

func TestPartialPlacementReportsFailuresForTheRest(t *testing.T) {
	a := inst("a", 4096, 1024)
	res := Place([]*Candidate{a}, &Demand{Memory: 512}, 3, rng())
	if len(res.Placed) != 2 || len(res.Failures) != 1 || res.Failures[0].Reason != ReasonMemory || a.Memory != 0 {
		t.Fatalf("placed %v failures %v", ids(res), res.Failures)
	}
}

func TestPortsAndGPUsAreTakenAsTasksArePlaced(t *testing.T) {
	a := inst("a", 4096, 4096)
	a.FreeGPUs = []string{"GPU-0", "GPU-1", "GPU-2"}
	used := a.UsedPorts
	res := Place([]*Candidate{a}, &Demand{Memory: 1, Ports: []string{"80"}, GPUs: 2}, 2, rng())
	if len(res.Placed) != 1 || res.Failures[0].Reason != ReasonPorts {
		t.Fatalf("placed %v failures %v", ids(res), res.Failures)
	}
	if fmt.Sprint(res.Placed[0].GPUs) != "[GPU-0 GPU-1]" || fmt.Sprint(a.FreeGPUs) != "[GPU-2]" || fmt.Sprint(a.UsedPorts) != "[80]" || len(used) != 0 {
		t.Fatalf("gpus %v free %v ports %v", res.Placed[0].GPUs, a.FreeGPUs, a.UsedPorts)
	}
}

func TestCapacityProviderLimitsTheInstances(t *testing.T) {
	a, b := inst("a", 4096, 4096), inst("b", 4096, 4096)
	b.CapacityProvider = "spot"
	res := Place([]*Candidate{a, b}, &Demand{Memory: 1, CapacityProvider: "spot"}, 3, rng())
	if fmt.Sprint(ids(res)) != "[b b b]" {
		t.Fatalf("placed %v", ids(res))
	}
}

func TestStaticFiltersRunBeforeResources(t *testing.T) {
	// An instance both disconnected and full is reported as AGENT.
	a := inst("a", 0, 0)
	a.AgentConnected = false
	res := Place([]*Candidate{a}, &Demand{Memory: 1}, 1, rng())
	if len(res.Failures) != 1 || res.Failures[0].Reason != ReasonAgent {
		t.Fatalf("failures %v", res.Failures)
	}
}

func BenchmarkPlace10000Instances(b *testing.B) {
	var cands []*Candidate
	for i := range 10000 {
		c := inst(fmt.Sprint(i), 4096, 16384)
		c.Attributes["ecs.availability-zone"] = []string{"a", "b", "c"}[i%3]
		cands = append(cands, c)
	}
	for _, s := range []Strategy{{Binpack, "memory"}, {Spread, "attribute:ecs.availability-zone"}} {
		b.Run(string(s.Type), func(b *testing.B) {
			r := rng()
			d := &Demand{Memory: 1, Group: "g", Strategies: []Strategy{s}}
			for b.Loop() {
				Place(cands, d, 10, r)
			}
		})
	}
}

// The server keeps candidates between passes and gives each pass shallow
// copies: Place must not write through into what the copies share.
func TestPlaceLeavesSharedStateAlone(t *testing.T) {
	template := inst("a", 4096, 4096)
	template.Groups["g"] = 1
	template.UsedPorts = make([]string, 1, 8) // room to append in place
	template.UsedPorts[0] = "22"
	template.FreeGPUs = []string{"GPU-0", "GPU-1"}
	template.DynamicPortsFree = 10
	c := *template
	res := Place([]*Candidate{&c}, &Demand{CPU: 1, Group: "g", Ports: []string{"80"}, GPUs: 1, DynamicPorts: 1}, 1, rand.New(rand.NewPCG(1, 2)))
	if len(res.Placed) != 1 || c.Groups["g"] != 2 || c.DynamicPortsFree != 9 {
		t.Fatalf("placed %d, copy's groups %v, dynamic ports %d", len(res.Placed), c.Groups, c.DynamicPortsFree)
	}
	if template.Groups["g"] != 1 || len(template.UsedPorts) != 1 || template.UsedPorts[:2][1] != "" || len(template.FreeGPUs) != 2 || template.DynamicPortsFree != 10 {
		t.Fatalf("the template changed: groups %v ports %v gpus %v", template.Groups, template.UsedPorts[:2], template.FreeGPUs)
	}
}
