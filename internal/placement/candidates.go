package placement

import (
	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// placementInstance is an instance offered to placement, with the stored
// object its write-back is guarded by.
type Instance struct {
	Obj    *store.Object
	Rec    *state.Instance
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
func (p *placer) candidates(sc state.Scope) ([]*Instance, error) {
	pl := p.pl
	if p.cache == nil {
		p.cache = map[string]*cachedCandidate{}
	}
	p.pass++
	objs := pl.state.Store().List(sc.Prefix(state.KindInstance)+p.cluster+"/", "", 0)
	out := make([]*Instance, 0, len(objs))
	for _, o := range objs {
		e := p.cache[o.Key]
		if e == nil || e.rev != o.Rev || e.tasksVer != pl.state.TasksByInstance.Version(e.group) {
			r, err := state.Decode[state.Instance](pl.state, o)
			if err != nil {
				return nil, err
			}
			// The version is read before the tasks: a change in between
			// leaves the entry stale, and the next pass rebuilds it.
			group := state.InstanceGroup(sc, p.cluster, r.ID)
			e = &cachedCandidate{rev: o.Rev, group: group, tasksVer: pl.state.TasksByInstance.Version(group), rec: r}
			e.cand = *pl.Candidate(sc, r)
			p.cache[o.Key] = e
		}
		e.pass = p.pass
		if e.rec.Status == state.StatusInactive {
			continue
		}
		cand := e.cand
		out = append(out, &Instance{Obj: o, Rec: e.rec, cand: &cand})
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

// Candidate is an instance as the scheduler weighs it, with the groups,
// running count and dynamic ports of the tasks on it.
func (pl *Placer) Candidate(sc state.Scope, r *state.Instance) *scheduler.Candidate {
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
	for _, o := range pl.state.TasksByInstance.ListUnordered(state.InstanceGroup(sc, r.Cluster, r.ID)) {
		t, err := state.Decode[state.Task](pl.state, o)
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
