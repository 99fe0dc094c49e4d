package server

import (
	"context"
	"slices"
	"strconv"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
)

// taskLaunch is a validated RunTask or StartTask: everything but where the
// tasks go.
type taskLaunch struct {
	cluster    *state.Cluster
	def        *ecs.TaskDefinition
	tags       []ecs.Tag
	overrides  *ecs.TaskOverride
	launchType string
	startedBy  string
	group      string
	service    string // the service whose scheduler starts the tasks, if any
	execCmd    bool
	needs      state.Needs

	constraints []scheduler.Constraint
	strategies  []scheduler.Strategy
	rules       any                                // the call's constraints and strategies, as given
	providers   []ecs.CapacityProviderStrategyItem // the capacity provider strategy in force, if any
}

// prepareLaunch applies the checks RunTask and StartTask share, in ECS's order.
func (s *Server) prepareLaunch(sc state.Scope, clusterRef, taskDefRef *string, launchType ecs.LaunchType, strategy []ecs.CapacityProviderStrategyItem,
	netConf *ecs.NetworkConfiguration, ov *ecs.TaskOverride, tags []ecs.Tag, propagate ecs.PropagateTags) (*taskLaunch, error) {
	_, cl, err := s.activeCluster(sc, clusterRef)
	if err != nil {
		return nil, err
	}
	_, td, err := s.state.TaskDef(sc, ecs.Val(taskDefRef))
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, ecs.NewClientException("TaskDefinition not found.")
	}
	if td.Status != state.StatusActive {
		return nil, ecs.NewClientException("TaskDefinition is inactive")
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
		return nil, ecs.NewInvalidParameterException("Task definition does not support launch_type %s.", lt)
	}
	if td.Definition.NetworkMode == ecs.NetworkModeAwsvpc && (netConf == nil || netConf.AwsvpcConfiguration == nil) {
		return nil, ecs.NewInvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
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
	return &taskLaunch{cluster: cl, def: &td.Definition, tags: tags, overrides: ov, launchType: lt, needs: state.NeedsOf(&td.Definition, ov), providers: strategy}, nil
}

func hasContainer(td *ecs.TaskDefinition, name string) bool {
	for _, c := range td.ContainerDefinitions {
		if ecs.Val(c.Name) == name {
			return true
		}
	}
	return false
}

// newTask builds the record of a task of l placed on instance.
func (s *Server) newTask(sc state.Scope, l *taskLaunch, inst *state.Instance) *state.Task {
	id := state.NewHexID()
	t := &state.Task{
		Schema:               state.TaskSchema,
		ARN:                  sc.ARN("task/" + l.cluster.Name + "/" + id),
		ID:                   id,
		Cluster:              l.cluster.Name,
		ClusterARN:           l.cluster.ARN,
		TaskDefinitionARN:    ecs.Val(l.def.TaskDefinitionArn),
		Family:               ecs.Val(l.def.Family),
		Revision:             int(ecs.Val(l.def.Revision)),
		InstanceID:           inst.ID,
		InstanceARN:          inst.ARN,
		LaunchType:           l.launchType,
		DesiredStatus:        "RUNNING",
		LastStatus:           "PENDING", // ECS starts tasks on container instances in PENDING
		Overrides:            l.overrides,
		StartedBy:            l.startedBy,
		Group:                l.group,
		ServiceName:          l.service,
		Tags:                 l.tags,
		Cpu:                  strconv.FormatInt(l.needs.CPU, 10),
		Memory:               strconv.FormatInt(l.needs.Memory, 10),
		Needs:                l.needs,
		EnableExecuteCommand: l.execCmd,
		AvailabilityZone:     attributeValue(inst.Attributes, "ecs.availability-zone"),
		Version:              1,
		CreatedAt:            s.now().UTC(),
		HealthStatus:         string(ecs.HealthStatusUnknown),
	}
	for _, c := range l.def.ContainerDefinitions {
		tc := state.TaskContainer{
			Name:       ecs.Val(c.Name),
			ARN:        sc.ARN("container/" + l.cluster.Name + "/" + id + "/" + state.NewHexID()),
			Image:      ecs.Val(c.Image),
			LastStatus: "PENDING",
			Essential:  c.Essential == nil || *c.Essential,
			Cpu:        strconv.Itoa(int(ecs.Val(c.Cpu))),
		}
		if c.Memory != nil {
			tc.Memory = strconv.Itoa(int(*c.Memory))
		}
		if c.MemoryReservation != nil {
			tc.MemoryReservation = strconv.Itoa(int(*c.MemoryReservation))
		}
		tc.GPUCount = state.GPUsOf(c, l.overrides)
		if c.HealthCheck != nil {
			tc.HealthStatus = string(ecs.HealthStatusUnknown)
		}
		t.Containers = append(t.Containers, tc)
	}
	return t
}

func attributeValue(attrs []ecs.Attribute, name string) string {
	for _, a := range attrs {
		if ecs.Val(a.Name) == name {
			return ecs.Val(a.Value)
		}
	}
	return ""
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
	l.startedBy, l.group, l.execCmd = ecs.Val(in.StartedBy), ecs.Val(in.Group), ecs.Val(in.EnableExecuteCommand)
	if l.group == "" {
		l.group = "family:" + ecs.Val(l.def.Family)
	}
	if l.constraints, l.strategies, err = placementRules(l.def, in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return nil, err
	}
	l.rules = []any{in.PlacementConstraints, in.PlacementStrategy}
	req := &placeRequest{sc: sc, launch: l, parts: l.split(count), count: count}
	if err := s.place(ctx, req); err != nil {
		return nil, err
	}
	return launchResponse(req.tasks, req.failures), nil
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
	l.startedBy, l.group, l.execCmd = ecs.Val(in.StartedBy), ecs.Val(in.Group), ecs.Val(in.EnableExecuteCommand)
	if l.group == "" {
		l.group = "family:" + ecs.Val(l.def.Family)
	}
	// StartTask names its instances: no strategies, and no constraints
	// but the resources and attributes a task needs.
	req := &placeRequest{sc: sc, launch: l, only: []*placementInstance{}}
	var missing []ecs.Failure
	seen := map[string]bool{}
	for _, ref := range in.ContainerInstances {
		o, r, err := s.state.Instance(sc, l.cluster.Name, ref)
		if err != nil {
			return nil, err
		}
		if r == nil {
			missing = append(missing, ecs.Failure{Arn: ecs.Ptr(state.InstanceARNFor(sc, l.cluster.Name, ref)), Reason: ecs.Ptr("MISSING")})
			continue
		}
		if !seen[r.ID] { // one task per named instance, however often it is named
			seen[r.ID] = true
			req.only = append(req.only, &placementInstance{obj: o, rec: r})
			req.count++
		}
	}
	if req.count > 0 {
		if err := s.place(ctx, req); err != nil {
			return nil, err
		}
	}
	out := launchResponse(req.tasks, append(missing, req.failures...))
	return &ecs.StartTaskResponse{Tasks: out.Tasks, Failures: out.Failures}, nil
}

func launchResponse(tasks []*state.Task, failures []ecs.Failure) *ecs.RunTaskResponse {
	out := &ecs.RunTaskResponse{Tasks: []ecs.Task{}, Failures: orEmpty(failures)}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, taskView(t, true))
	}
	return out
}
