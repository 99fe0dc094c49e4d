package placement

import (
	"errors"
	"math/rand/v2"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/rollout"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/state"
)

// ErrNoTaskDefinition: the task definition a deployment runs is gone.
var ErrNoTaskDefinition = errors.New("TaskDefinition not found.")

// oneCandidate is the random source of a placement over one candidate,
// where the random strategy has nothing to choose: each call has its own,
// so API requests and the service scheduler share no state.
func oneCandidate() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// DaemonInstances lists the cluster's instances with whether the DAEMON
// service's tasks belong on each: ACTIVE, and its constraints, required
// attributes and launch type hold there (resources are placement's to
// judge, and fail with a reason).
func (pl *Placer) DaemonInstances(sc state.Scope, cl *state.Cluster, r *state.Service) ([]rollout.DaemonInstance, error) {
	var out []rollout.DaemonInstance
	p := r.Primary()
	var demand *scheduler.Demand
	kind := state.KindEC2
	if p != nil {
		l, err := pl.ServiceLaunch(sc, cl, r, p)
		if err != nil {
			return nil, err
		}
		demand = l.Demand("")
		kind = Part{LaunchType: l.LaunchType}.kind()
		demand.CPU, demand.Memory, demand.Ports, demand.PortsUDP, demand.GPUs, demand.DynamicPorts = 0, 0, nil, nil, 0, 0
	}
	for _, o := range pl.state.Store().List(sc.Prefix(state.KindInstance)+cl.Name+"/", "", 0) {
		inst, err := state.Decode[state.Instance](pl.state, o)
		if err != nil {
			return nil, err
		}
		if inst.Status == state.StatusInactive {
			continue
		}
		eligible := inst.Status == state.StatusActive && demand != nil && state.CapacityKind(inst) == kind
		if eligible {
			cand := pl.Candidate(sc, inst)
			cand.AgentConnected = true // a disconnected agent does not make its tasks go
			cand.Groups = map[string]int{}
			eligible = len(scheduler.Place([]*scheduler.Candidate{cand}, demand, 1, oneCandidate()).Placed) == 1
		}
		out = append(out, rollout.DaemonInstance{ID: inst.ID, Eligible: eligible})
	}
	return out, nil
}

// ServiceLaunch is a launch of tasks of one of the service's deployments.
func (pl *Placer) ServiceLaunch(sc state.Scope, cl *state.Cluster, r *state.Service, d *state.Deployment) (*Launch, error) {
	_, td, err := pl.state.TaskDef(sc, d.TaskDefinitionARN)
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, ErrNoTaskDefinition
	}
	l := &Launch{Cluster: cl, Def: &td.Definition, LaunchType: d.LaunchType, Providers: d.CapacityProviderStrategy,
		Needs: state.NeedsOf(&td.Definition, nil), StartedBy: d.ID, Group: "service:" + r.Name, Service: r.Name, ExecCmd: r.EnableExecuteCommand}
	if td.Definition.NetworkMode == ecs.NetworkModeAwsvpc && d.NetworkConfiguration != nil {
		l.Network = d.NetworkConfiguration.AwsvpcConfiguration
	}
	if len(l.Providers) > 0 {
		l.LaunchType = string(ecs.LaunchTypeEc2)
		if state.IsBuiltInProvider(ecs.Val(l.Providers[0].CapacityProvider)) {
			l.LaunchType = string(ecs.LaunchTypeFargate)
		}
	}
	switch ecs.PropagateTags(r.PropagateTags) {
	case ecs.PropagateTagsService:
		l.Tags = append(l.Tags, r.Tags...)
	case ecs.PropagateTagsTaskDefinition:
		l.Tags = append(l.Tags, td.Tags...)
	}
	if r.EnableECSManagedTags {
		l.Tags = append(l.Tags, ManagedTags(cl.Name, r.Name)...)
	}
	if l.Constraints, l.Strategies, err = Rules(&td.Definition, d.PlacementConstraints, d.PlacementStrategy); err != nil {
		return nil, err
	}
	l.GivenRules = []any{d.PlacementConstraints, d.PlacementStrategy}
	return l, nil
}

// ManagedTags are the tags ECS puts on a task launched with
// enableECSManagedTags: its cluster's name and, for a service's task, the
// service's.
func ManagedTags(cluster, service string) []ecs.Tag {
	tags := []ecs.Tag{{Key: ecs.Ptr("aws:ecs:clusterName"), Value: ecs.Ptr(cluster)}}
	if service != "" {
		tags = append(tags, ecs.Tag{Key: ecs.Ptr("aws:ecs:serviceName"), Value: ecs.Ptr(service)})
	}
	return tags
}
