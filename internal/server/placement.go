package server

import (
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/store"
)

// Placement glue: the stored cluster as scheduler candidates, a launch as a
// scheduler demand, and ECS's checks of the constraints and strategies a
// caller gives.

// ECS's limits on one task's placement rules.
const (
	maxPlacementConstraints = 10 // the task definition's and the call's together
	maxExpressionLength     = 2000
)

// placementInstance is an instance offered to placement, with the stored
// object its write-back is guarded by.
type placementInstance struct {
	obj    *store.Object
	rec    *state.Instance
	copied bool // rec is a private copy, changed by this batch
	cand   *scheduler.Candidate
}

// cachedCandidate is an instance as a pass built it. It holds while
// neither the instance's record nor the set of its tasks has changed:
// building a candidate decodes every task on the instance, and a cluster of
// 10,000 instances mostly has not changed since the last pass.
type cachedCandidate struct {
	rev      int64  // of the instance's record
	group    string // its group in the tasks-by-instance index
	tasksVer uint64 // of that group
	rec      *state.Instance
	cand     scheduler.Candidate // the template each pass copies
	pass     uint64              // the last pass that saw it
}

// candidates lists the cluster's ACTIVE and DRAINING instances for a
// placement pass, each with a fresh candidate of its own.
func (p *placer) candidates(sc state.Scope) ([]*placementInstance, error) {
	s := p.s
	if p.cache == nil {
		p.cache = map[string]*cachedCandidate{}
	}
	p.pass++
	objs := s.store.List(sc.Prefix(state.KindInstance)+p.cluster+"/", "", 0)
	out := make([]*placementInstance, 0, len(objs))
	for _, o := range objs {
		e := p.cache[o.Key]
		if e == nil || e.rev != o.Rev || e.tasksVer != s.state.TasksByInstance.Version(e.group) {
			r, err := decode[state.Instance](s, o)
			if err != nil {
				return nil, err
			}
			// The version is read before the tasks: a change in between
			// leaves the entry stale, and the next pass rebuilds it.
			group := state.InstanceGroup(sc, p.cluster, r.ID)
			e = &cachedCandidate{rev: o.Rev, group: group, tasksVer: s.state.TasksByInstance.Version(group), rec: r}
			e.cand = *s.candidate(sc, r)
			p.cache[o.Key] = e
		}
		e.pass = p.pass
		if e.rec.Status == state.StatusInactive {
			continue
		}
		cand := e.cand
		out = append(out, &placementInstance{obj: o, rec: e.rec, cand: &cand})
	}
	if len(p.cache) > len(objs) { // instances have gone: forget them
		for k, e := range p.cache {
			if e.pass != p.pass {
				delete(p.cache, k)
			}
		}
	}
	return out, nil
}

func (s *Server) candidate(sc state.Scope, r *state.Instance) *scheduler.Candidate {
	c := &scheduler.Candidate{
		ID: r.ID, ARN: r.ARN, Status: r.Status, AgentConnected: r.AgentConnected,
		AgentVersion: ecs.Val(r.VersionInfo.AgentVersion), EC2InstanceID: r.EC2InstanceID, RegisteredAt: r.RegisteredAt,
		CapacityProvider: r.CapacityProviderName,
		Attributes:       make(map[string]string, len(r.Attributes)),
		CPU:              state.ResourceInt(r.RemainingResources, "CPU"),
		Memory:           state.ResourceInt(r.RemainingResources, "MEMORY"),
		UsedPorts:        state.ResourceSet(r.RemainingResources, "PORTS"),
		UsedUDP:          state.ResourceSet(r.RemainingResources, "PORTS_UDP"),
		FreeGPUs:         state.ResourceSet(r.RemainingResources, "GPU"),
		DynamicPortsFree: state.DynamicPortRange,
		Groups:           map[string]int{},
	}
	for _, a := range r.Attributes {
		c.Attributes[ecs.Val(a.Name)] = ecs.Val(a.Value)
	}
	for _, o := range s.state.TasksByInstance.ListUnordered(state.InstanceGroup(sc, r.Cluster, r.ID)) {
		t, err := decode[state.Task](s, o)
		if err != nil {
			continue
		}
		c.Groups[t.Group]++
		c.DynamicPortsFree -= t.Needs.DynamicPorts
		if t.LastStatus == "RUNNING" {
			c.Running++
		}
	}
	return c
}

// placementRules checks and converts the constraints of the task
// definition and of the call, and the call's strategies, as ECS does.
func placementRules(td *ecs.TaskDefinition, constraints []ecs.PlacementConstraint, strategies []ecs.PlacementStrategy) ([]scheduler.Constraint, []scheduler.Strategy, error) {
	all := make([]ecs.PlacementConstraint, 0, len(td.PlacementConstraints)+len(constraints))
	for _, c := range td.PlacementConstraints {
		all = append(all, ecs.PlacementConstraint{Type: ecs.PlacementConstraintType(c.Type), Expression: c.Expression})
	}
	all = append(all, constraints...)
	if len(all) > maxPlacementConstraints {
		return nil, nil, ecs.NewInvalidParameterException("The number of placement constraints (%d) exceeds the limit of %d, counting those of the task definition.", len(all), maxPlacementConstraints)
	}
	var out []scheduler.Constraint
	for _, c := range all {
		switch c.Type {
		case ecs.PlacementConstraintTypeDistinctInstance:
			if ecs.Val(c.Expression) != "" {
				return nil, nil, ecs.NewInvalidParameterException("An expression cannot be specified for the distinctInstance placement constraint.")
			}
			out = append(out, scheduler.Constraint{Type: scheduler.DistinctInstance})
		case ecs.PlacementConstraintTypeMemberOf:
			expr := ecs.Val(c.Expression)
			if strings.TrimSpace(expr) == "" {
				return nil, nil, ecs.NewInvalidParameterException("An expression is required for the memberOf placement constraint.")
			}
			if len(expr) > maxExpressionLength {
				return nil, nil, ecs.NewInvalidParameterException("The placement constraint expression is longer than %d characters.", maxExpressionLength)
			}
			e, err := parseFilter(expr)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, scheduler.Constraint{Type: scheduler.MemberOf, Expr: e})
		default:
			return nil, nil, ecs.NewInvalidParameterException("Invalid placement constraint type: %s.", c.Type)
		}
	}
	if len(strategies) > scheduler.MaxStrategies {
		return nil, nil, ecs.NewInvalidParameterException("The number of placement strategies (%d) exceeds the limit of %d.", len(strategies), scheduler.MaxStrategies)
	}
	var strat []scheduler.Strategy
	for _, p := range strategies {
		st := scheduler.Strategy{Type: scheduler.StrategyType(p.Type), Field: ecs.Val(p.Field)}
		if err := scheduler.CheckStrategy(st); err != nil {
			return nil, nil, ecs.NewInvalidParameterException("%s", err.Error())
		}
		strat = append(strat, st)
	}
	return out, strat, nil
}

// demand is what one task of the launch asks of placement.
func (l *taskLaunch) demand(capacityProvider string) *scheduler.Demand {
	d := &scheduler.Demand{
		CPU: l.needs.CPU, Memory: l.needs.Memory, Ports: l.needs.Ports, PortsUDP: l.needs.PortsUDP, GPUs: l.needs.GPUCount,
		DynamicPorts:     l.needs.DynamicPorts,
		CapacityProvider: capacityProvider, Group: l.group, Constraints: l.constraints, Strategies: l.strategies,
	}
	for _, a := range l.def.RequiresAttributes {
		d.Attributes = append(d.Attributes, scheduler.Attribute{Name: ecs.Val(a.Name), Value: ecs.Val(a.Value)})
	}
	return d
}

// split shares count tasks out over the capacity provider strategy in
// force, as ECS does: the base first, to the one provider that has it, and
// the rest by weight. Without a strategy, one part with the launch type;
// the FARGATE launch type runs on the instances designated for FARGATE.
// prepareLaunch has made sure some provider has a weight.
func (l *taskLaunch) split(count int) []launchPart {
	if len(l.providers) == 0 {
		part := launchPart{launchType: l.launchType, count: count}
		if l.launchType == string(ecs.LaunchTypeFargate) {
			part.capacityProvider = "FARGATE"
		}
		return []launchPart{part}
	}
	counts := make([]int, len(l.providers))
	left := count
	for i, it := range l.providers {
		if b := int(ecs.Val(it.Base)); b > 0 {
			counts[i] = min(b, left)
			left -= counts[i]
		}
	}
	// The rest by weight: each task to the provider furthest below its
	// share (weighted round robin, so 1:3 over 4 tasks gives 1 and 3).
	byWeight := make([]int, len(l.providers))
	for ; left > 0; left-- {
		best := -1
		for i, it := range l.providers {
			w := int(ecs.Val(it.Weight))
			if w == 0 {
				continue
			}
			// Compare (byWeight[i]+1)/w across providers without division.
			if best < 0 || (byWeight[i]+1)*int(ecs.Val(l.providers[best].Weight)) < (byWeight[best]+1)*w {
				best = i
			}
		}
		byWeight[best]++
	}
	var parts []launchPart
	for i, it := range l.providers {
		if n := counts[i] + byWeight[i]; n > 0 {
			name := ecs.Val(it.CapacityProvider)
			lt := string(ecs.LaunchTypeEc2)
			if state.IsBuiltInProvider(name) {
				lt = string(ecs.LaunchTypeFargate)
			}
			parts = append(parts, launchPart{capacityProvider: name, launchType: lt, count: n})
		}
	}
	return parts
}
