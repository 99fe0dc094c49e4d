package placement

import (
	"strings"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/state"
)

// ReasonCapacityUnavailable is ECS's failure reason when Fargate cannot
// take a task (it names no instance: Fargate shows none). Berth gives it
// when no Fargate capacity (`berth agent --fargate`, `berth dev`) has room.
const ReasonCapacityUnavailable = "Capacity is unavailable at this time. Please try again later or in a different availability zone"

// isFargate: the part runs on Fargate's capacity.
// IsFargate says whether the part's tasks need Fargate capacity.
func (p Part) IsFargate() bool {
	return p.LaunchType == string(ecs.LaunchTypeFargate) || state.IsBuiltInProvider(p.CapacityProvider)
}

// kind is the kind of capacity the part's tasks land on, as in ECS: EC2
// tasks (and custom capacity providers') on EC2 instances, EXTERNAL tasks
// on ECS Anywhere instances, Fargate's on Fargate capacity.
func (p Part) kind() string {
	switch {
	case p.IsFargate():
		return state.KindFargate
	case p.LaunchType == string(ecs.LaunchTypeExternal):
		return state.KindExternal
	}
	return state.KindEC2
}

// newGroup is the group of a batch that places part of l. Fargate parts
// pick their capacity themselves (takes): capacity designated FARGATE
// takes FARGATE_SPOT's tasks too, which the scheduler's exact match on the
// provider would refuse.
func newGroup(l *Launch, part Part) *requestGroup {
	g := &requestGroup{demand: l.Demand(part.CapacityProvider), part: part, launch: l}
	if part.IsFargate() {
		g.demand.CapacityProvider = ""
	}
	return g
}

// takes says whether the group's tasks may go on inst: it is the kind of
// capacity their launch type runs on, and Fargate capacity runs the task
// definition's platform.
func (g *requestGroup) takes(inst *state.Instance) bool {
	if state.CapacityKind(inst) != g.part.kind() {
		return false
	}
	if !g.part.IsFargate() {
		return true
	}
	want := g.part.CapacityProvider
	if want == "" {
		want = "FARGATE"
	}
	return state.TakesProvider(inst.CapacityProviderName, want) && RunsPlatform(inst, g.launch.Def.RuntimePlatform)
}

// RunsPlatform: the instance's architecture and OS are the ones a runtime
// platform asks for (X86_64 and LINUX when it names none, as in ECS).
func RunsPlatform(inst *state.Instance, rp *ecs.RuntimePlatform) bool {
	arch, family := ecs.CPUArchitectureX8664, ecs.OSFamilyLinux
	if rp != nil && rp.CpuArchitecture != "" {
		arch = rp.CpuArchitecture
	}
	if rp != nil && rp.OperatingSystemFamily != "" {
		family = rp.OperatingSystemFamily
	}
	have := strings.ToUpper(state.AttributeValue(inst.Attributes, "ecs.cpu-architecture"))
	if have == "" {
		have = string(ecs.CPUArchitectureX8664) // an agent that does not say
	}
	os := strings.ToUpper(state.AttributeValue(inst.Attributes, "ecs.os-family"))
	if os == "" {
		os = string(ecs.OSFamilyLinux)
	}
	return have == string(arch) && os == string(family)
}

// failures is what a group's request is told when part of its share could
// not be placed: the instances' reasons, or for Fargate ECS's one reason
// with no instance named.
func (g *requestGroup) failures(res scheduler.Result) []scheduler.Failure {
	if g.part.IsFargate() {
		return []scheduler.Failure{{Reason: ReasonCapacityUnavailable}}
	}
	return res.Failures
}

// noCapacity says whether a request can place nothing at all because the
// cluster has no instance of the kinds its parts run on: ECS answers that
// with an error rather than failures. Fargate parts never do: Fargate's
// lack of capacity is a failure.
func noCapacity(r *Request, insts []*Instance) bool {
	kinds := map[string]bool{}
	for _, pi := range insts {
		kinds[state.CapacityKind(pi.Rec)] = true
	}
	for _, part := range r.Parts {
		if part.IsFargate() || kinds[part.kind()] {
			return false
		}
	}
	return true
}

// stampLaunch records on a new task how it was launched: the launch type,
// the capacity provider when a strategy chose it, and a Fargate task's
// platform. A Fargate task belongs to no container instance that a caller
// sees (taskView leaves it out).
func stampLaunch(t *state.Task, l *Launch, part Part) {
	t.LaunchType = part.LaunchType
	t.CapacityProviderName = part.CapacityProvider
	if !part.IsFargate() {
		return
	}
	if len(l.Providers) == 0 {
		t.CapacityProviderName = "" // launchType FARGATE: ECS names no provider
	}
	p := state.FargatePlatform(l.Def)
	t.Platform = &p
}
