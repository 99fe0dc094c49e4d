package server

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
)

// prepareLaunch applies the checks RunTask and StartTask share, in ECS's order.
func (s *Server) prepareLaunch(sc state.Scope, clusterRef, taskDefRef *string, launchType ecs.LaunchType, strategy []ecs.CapacityProviderStrategyItem,
	netConf *ecs.NetworkConfiguration, ov *ecs.TaskOverride, tags []ecs.Tag, propagate ecs.PropagateTags) (*placement.Launch, error) {
	// Checked before anything is read or placed: an oversized call must
	// fail alone, not the placement pass it would share with others.
	if err := checkOverrides(ov); err != nil {
		return nil, err
	}
	if err := checkNetworkConfiguration(netConf); err != nil {
		return nil, err
	}
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(clusterRef))
	if err != nil {
		return nil, err
	}
	td, err := s.activeTaskDef(sc, ecs.Val(taskDefRef))
	if err != nil {
		return nil, err
	}
	if launchType != "" && len(strategy) > 0 {
		return nil, errLaunchTypeAndStrategy()
	}
	whose := "the capacity provider strategy"
	if launchType == "" && len(strategy) == 0 {
		strategy = cl.DefaultCapacityProviderStrategy // the cluster's default, when it has one
		whose = "the default capacity provider strategy"
	}
	lt := string(launchType)
	if len(strategy) > 0 {
		if err := s.validateCapacityProviders(sc, cl.CapacityProviders, strategy); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(strategy, func(it ecs.CapacityProviderStrategyItem) bool { return ecs.Val(it.Weight) > 0 }) {
			return nil, ecs.NewInvalidParameterException("There are no capacity providers with a weight value greater than zero defined in %s. At least one capacity provider must have a weight value greater than zero specified. Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy and try again.", whose)
		}
		lt = string(ecs.LaunchTypeEc2)
		if state.IsBuiltInProvider(ecs.Val(strategy[0].CapacityProvider)) {
			lt = string(ecs.LaunchTypeFargate)
		}
	}
	if lt == "" {
		lt = string(ecs.LaunchTypeEc2)
	}
	if !hasCompatibility(td.Definition.Compatibilities, ecs.Compatibility(lt)) {
		return nil, errLaunchTypeUnsupported(lt)
	}
	if err := checkAwsvpc(td.Definition.NetworkMode, netConf, lt); err != nil {
		return nil, err
	}
	if ov != nil {
		for _, co := range ov.ContainerOverrides {
			if !hasContainer(&td.Definition, ecs.Val(co.Name)) {
				return nil, ecs.NewInvalidParameterException("Override for container named %s is not a container in the TaskDefinition.", ecs.Val(co.Name))
			}
		}
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	if propagate == ecs.PropagateTagsTaskDefinition {
		tags = append(append([]ecs.Tag(nil), td.Tags...), tags...)
	}
	l := &placement.Launch{Cluster: cl, Def: &td.Definition, Tags: tags, Overrides: ov, LaunchType: lt, Needs: state.NeedsOf(&td.Definition, ov), Providers: strategy}
	if td.Definition.NetworkMode == ecs.NetworkModeAwsvpc {
		l.Network = netConf.AwsvpcConfiguration
	}
	return l, nil
}

// maxOverridesLength is ECS's limit on the overrides of RunTask and
// StartTask: "A total of 8192 characters are allowed for overrides. This
// limit includes the JSON formatting characters of the override
// structure."
const maxOverridesLength = 8192

// checkOverrides applies ECS's limit on the size of a launch's overrides,
// measured as their JSON, and refuses negative container cpu and memory
// (which would give an instance resources back when a task is placed).
func checkOverrides(ov *ecs.TaskOverride) error {
	if ov == nil {
		return nil
	}
	b, err := json.Marshal(ov)
	if err != nil || len(b) > maxOverridesLength {
		return ecs.NewInvalidParameterException("Container Overrides length must be at most %d", maxOverridesLength)
	}
	for _, co := range ov.ContainerOverrides {
		// ECS's wording for these is not known; it is Berth's.
		for _, f := range []struct {
			name string
			v    *int32
		}{{"cpu", co.Cpu}, {"memory", co.Memory}, {"memoryReservation", co.MemoryReservation}} {
			if ecs.Val(f.v) < 0 {
				return ecs.NewInvalidParameterException("Invalid '%s' override for container '%s': it must not be negative.", f.name, ecs.Val(co.Name))
			}
		}
	}
	return nil
}

func hasContainer(td *ecs.TaskDefinition, name string) bool {
	for _, c := range td.ContainerDefinitions {
		if ecs.Val(c.Name) == name {
			return true
		}
	}
	return false
}

func (s *Server) RunTask(ctx context.Context, in *ecs.RunTaskRequest) (*ecs.RunTaskResponse, error) {
	sc := scopeOf(ctx)
	count := int(ecs.Val(in.Count))
	if in.Count == nil {
		count = 1
	}
	if count < 1 || count > 10 {
		return nil, ecs.NewInvalidParameterException("Count must be between 1 and 10.")
	}
	l, err := s.prepareLaunch(sc, in.Cluster, in.TaskDefinition, in.LaunchType, in.CapacityProviderStrategy, in.NetworkConfiguration, in.Overrides, in.Tags, in.PropagateTags)
	if err != nil {
		return nil, err
	}
	if err := s.checkRunTaskLaunch(sc, l, in); err != nil {
		return nil, err
	}
	l.StartedBy, l.Group, l.ExecCmd = ecs.Val(in.StartedBy), ecs.Val(in.Group), ecs.Val(in.EnableExecuteCommand)
	if ecs.Val(in.EnableECSManagedTags) {
		l.Tags = append(l.Tags, placement.ManagedTags(l.Cluster.Name, "")...)
	}
	if l.Group == "" {
		l.Group = "family:" + ecs.Val(l.Def.Family)
	}
	if l.Constraints, l.Strategies, err = placement.Rules(l.Def, in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return nil, err
	}
	l.GivenRules = []any{in.PlacementConstraints, in.PlacementStrategy}
	req := &placement.Request{Scope: sc, Launch: l, Parts: l.Split(count), Count: count}
	s.awaitFargateCapacity(ctx, sc, l.Cluster.Name, req.Parts)
	if err := s.placer.Place(ctx, req); err != nil {
		return nil, err
	}
	return launchResponse(req.Tasks, req.Failures), nil
}

func (s *Server) StartTask(ctx context.Context, in *ecs.StartTaskRequest) (*ecs.StartTaskResponse, error) {
	sc := scopeOf(ctx)
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, ecs.NewInvalidParameterException("containerInstances must contain between 1 and 10 items.")
	}
	l, err := s.prepareLaunch(sc, in.Cluster, in.TaskDefinition, ecs.LaunchTypeEc2, nil, in.NetworkConfiguration, in.Overrides, in.Tags, in.PropagateTags)
	if err != nil {
		return nil, err
	}
	l.StartedBy, l.Group, l.ExecCmd = ecs.Val(in.StartedBy), ecs.Val(in.Group), ecs.Val(in.EnableExecuteCommand)
	if ecs.Val(in.EnableECSManagedTags) {
		l.Tags = append(l.Tags, placement.ManagedTags(l.Cluster.Name, "")...)
	}
	if l.Group == "" {
		l.Group = "family:" + ecs.Val(l.Def.Family)
	}
	// StartTask names its instances: no strategies, and no constraints
	// but the resources and attributes a task needs.
	req := &placement.Request{Scope: sc, Launch: l, Only: []*placement.Instance{}}
	var missing []ecs.Failure
	seen := map[string]bool{}
	for _, ref := range in.ContainerInstances {
		o, r, err := s.state.Instance(sc, l.Cluster.Name, ref)
		if err != nil {
			return nil, err
		}
		if r == nil {
			missing = append(missing, ecs.Failure{Arn: ecs.Ptr(state.InstanceARNFor(sc, l.Cluster.Name, ref)), Reason: ecs.Ptr("MISSING")})
			continue
		}
		if !seen[r.ID] { // one task per named instance, however often it is named
			seen[r.ID] = true
			req.Only = append(req.Only, &placement.Instance{Obj: o, Rec: r})
			req.Count++
		}
	}
	if req.Count > 0 {
		if err := s.placer.Place(ctx, req); err != nil {
			return nil, err
		}
	}
	out := launchResponse(req.Tasks, append(missing, req.Failures...))
	return &ecs.StartTaskResponse{Tasks: out.Tasks, Failures: out.Failures}, nil
}

func launchResponse(tasks []*state.Task, failures []ecs.Failure) *ecs.RunTaskResponse {
	out := &ecs.RunTaskResponse{Failures: failures}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, taskView(t, true))
	}
	return out
}
