package server

import (
	"context"
	"slices"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// The service operations. They change what is desired, in the service
// record; the service scheduler (servicectl.go) makes it so.

// ECS's defaults for deploymentConfiguration, by scheduling strategy.
func defaultDeploymentConfiguration(strategy string) ecs.DeploymentConfiguration {
	dc := ecs.DeploymentConfiguration{
		MaximumPercent:           ecs.Ptr(int32(200)),
		MinimumHealthyPercent:    ecs.Ptr(int32(100)),
		DeploymentCircuitBreaker: &ecs.DeploymentCircuitBreaker{Enable: ecs.Ptr(false), Rollback: ecs.Ptr(false)},
	}
	if strategy == state.SchedulingDaemon {
		dc.MaximumPercent, dc.MinimumHealthyPercent = ecs.Ptr(int32(100)), ecs.Ptr(int32(0))
	}
	return dc
}

// mergeDeploymentConfiguration applies the members a call gives over what
// the service has.
func mergeDeploymentConfiguration(base ecs.DeploymentConfiguration, in *ecs.DeploymentConfiguration) ecs.DeploymentConfiguration {
	if in == nil {
		return base
	}
	if in.MaximumPercent != nil {
		base.MaximumPercent = in.MaximumPercent
	}
	if in.MinimumHealthyPercent != nil {
		base.MinimumHealthyPercent = in.MinimumHealthyPercent
	}
	if in.DeploymentCircuitBreaker != nil {
		cb := *in.DeploymentCircuitBreaker
		if cb.Enable == nil {
			cb.Enable = ecs.Ptr(false)
		}
		if cb.Rollback == nil {
			cb.Rollback = ecs.Ptr(false)
		}
		base.DeploymentCircuitBreaker = &cb
	}
	if in.Alarms != nil {
		base.Alarms = in.Alarms
	}
	if in.Strategy != "" {
		base.Strategy = in.Strategy
	}
	if in.BakeTimeInMinutes != nil {
		base.BakeTimeInMinutes = in.BakeTimeInMinutes
	}
	if in.LifecycleHooks != nil {
		base.LifecycleHooks = in.LifecycleHooks
	}
	return base
}

func errLaunchTypeAndStrategy() error {
	return ecs.NewInvalidParameterException("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
}

// launchChoice is what a service or task set launches with, as ECS takes
// it from the call: a launch type or a capacity provider strategy, not
// both; with neither, the cluster's default strategy, or else EC2.
func launchChoice(cl *state.Cluster, lt ecs.LaunchType, providers []ecs.CapacityProviderStrategyItem) (string, []ecs.CapacityProviderStrategyItem, error) {
	switch {
	case lt != "" && len(providers) > 0:
		return "", nil, errLaunchTypeAndStrategy()
	case lt != "" || len(providers) > 0:
		return string(lt), providers, nil
	case len(cl.DefaultCapacityProviderStrategy) > 0:
		return "", cl.DefaultCapacityProviderStrategy, nil
	}
	return string(ecs.LaunchTypeEc2), nil, nil
}

// checkService applies ECS's rules to a service as it would be after a
// create or an update. td is the task definition it runs (nil for an
// EXTERNAL service without one).
func (s *Server) checkService(sc state.Scope, cl *state.Cluster, r *state.Service, td *ecs.TaskDefinition) error {
	daemon := r.SchedulingStrategy == state.SchedulingDaemon
	dc := r.DeploymentConfiguration
	maxPct, minPct := int(ecs.Val(dc.MaximumPercent)), int(ecs.Val(dc.MinimumHealthyPercent))
	switch {
	case minPct < 0 || minPct > 100:
		return ecs.NewInvalidParameterException("The minimum healthy percent must be between 0 and 100.")
	case daemon && maxPct != 100:
		return ecs.NewInvalidParameterException("The maximumPercent value for a service using the DAEMON scheduling strategy must be 100.")
	case maxPct < 100:
		return ecs.NewInvalidParameterException("The maximum percent must be 100 or more.")
	case maxPct > 2000:
		return ecs.NewInvalidParameterException("The maximum percent must be 2000 or less.")
	}
	if dc.Strategy != "" && dc.Strategy != ecs.DeploymentStrategyRolling {
		return ecs.NewInvalidParameterException("Berth supports the ROLLING deployment strategy only; %s is not supported.", dc.Strategy)
	}
	if daemon && len(r.PlacementStrategy) > 0 {
		return ecs.NewInvalidParameterException("Placement strategies are not supported with the DAEMON scheduling strategy.")
	}
	if daemon && r.LaunchType == string(ecs.LaunchTypeFargate) {
		return ecs.NewInvalidParameterException("The DAEMON scheduling strategy does not support the FARGATE launch type.")
	}
	if r.DesiredCount < 0 {
		return ecs.NewInvalidParameterException("Desired count must be 0 or more.")
	}
	if r.HealthCheckGracePeriodSeconds != nil && (*r.HealthCheckGracePeriodSeconds < 0 || *r.HealthCheckGracePeriodSeconds > 2147483647) {
		return ecs.NewInvalidParameterException("healthCheckGracePeriodSeconds must be between 0 and 2147483647.")
	}
	if err := validateTags(r.Tags); err != nil {
		return err
	}
	if len(r.ServiceRegistries) > 1 {
		return ecs.NewInvalidParameterException("A service can have at most one service registry.")
	}
	for _, sr := range r.ServiceRegistries {
		if ecs.Val(sr.RegistryArn) == "" {
			return ecs.NewInvalidParameterException("A service registry must have a registryArn.")
		}
	}
	if len(r.LoadBalancers) > 5 {
		return ecs.NewInvalidParameterException("A service can have at most 5 load balancers.")
	}
	if td == nil {
		return nil
	}
	if len(r.CapacityProviderStrategy) > 0 {
		if err := s.validateCapacityProviders(sc, cl.CapacityProviders, r.CapacityProviderStrategy); err != nil {
			return err
		}
		if !slices.ContainsFunc(r.CapacityProviderStrategy, func(it ecs.CapacityProviderStrategyItem) bool { return ecs.Val(it.Weight) > 0 }) {
			return ecs.NewInvalidParameterException("There are no capacity providers with a weight value greater than zero defined in the capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy and try again.")
		}
	}
	lt := r.LaunchType
	if lt == "" {
		lt = string(ecs.LaunchTypeEc2)
		if len(r.CapacityProviderStrategy) > 0 && state.IsBuiltInProvider(ecs.Val(r.CapacityProviderStrategy[0].CapacityProvider)) {
			lt = string(ecs.LaunchTypeFargate)
		}
	}
	if !hasCompatibility(td.Compatibilities, ecs.Compatibility(lt)) {
		return ecs.NewInvalidParameterException("Task definition does not support launch_type %s.", lt)
	}
	if td.NetworkMode == ecs.NetworkModeAwsvpc && (r.NetworkConfiguration == nil || r.NetworkConfiguration.AwsvpcConfiguration == nil) {
		return ecs.NewInvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	if _, _, err := placement.Rules(td, r.PlacementConstraints, r.PlacementStrategy); err != nil {
		return err
	}
	for _, lb := range r.LoadBalancers {
		if ecs.Val(lb.TargetGroupArn) == "" && ecs.Val(lb.LoadBalancerName) == "" {
			return ecs.NewInvalidParameterException("A load balancer must have a targetGroupArn or a loadBalancerName.")
		}
		if !hasContainerPort(td, ecs.Val(lb.ContainerName), ecs.Val(lb.ContainerPort)) {
			return ecs.NewInvalidParameterException("The container %s does not have a container port %d defined.", ecs.Val(lb.ContainerName), ecs.Val(lb.ContainerPort))
		}
	}
	return nil
}

func hasContainerPort(td *ecs.TaskDefinition, name string, port int32) bool {
	for _, c := range td.ContainerDefinitions {
		if ecs.Val(c.Name) != name {
			continue
		}
		for _, pm := range c.PortMappings {
			if ecs.Val(pm.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}

// serviceTaskDef resolves a service's task definition parameter: it must
// exist and be ACTIVE when given.
func (s *Server) serviceTaskDef(sc state.Scope, ref string) (*state.TaskDef, error) {
	_, td, err := s.state.TaskDef(sc, ref)
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, ecs.NewClientException("TaskDefinition not found.")
	}
	if td.Status != state.StatusActive {
		return nil, ecs.NewClientException("TaskDefinition is inactive")
	}
	return td, nil
}

func (s *Server) CreateService(ctx context.Context, in *ecs.CreateServiceRequest) (*ecs.CreateServiceResponse, error) {
	sc := scopeOf(ctx)
	name := ecs.Val(in.ServiceName)
	if !serviceNamePattern.MatchString(name) {
		return nil, ecs.NewInvalidParameterException("Service name is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	strategy := string(in.SchedulingStrategy)
	if strategy == "" {
		strategy = state.SchedulingReplica
	}
	if strategy == state.SchedulingDaemon && in.DesiredCount != nil {
		return nil, ecs.NewInvalidParameterException("The daemon scheduling strategy does not support a desired count for services.")
	}
	controller := string(ecs.DeploymentControllerTypeEcs)
	if in.DeploymentController != nil && in.DeploymentController.Type != "" {
		controller = string(in.DeploymentController.Type)
	}
	if controller == string(ecs.DeploymentControllerTypeCodeDeploy) {
		return nil, ecs.NewInvalidParameterException("The CODE_DEPLOY deployment controller needs AWS CodeDeploy, which Berth does not have. Use ECS or EXTERNAL.")
	}
	if controller == string(ecs.DeploymentControllerTypeExternal) && strategy == state.SchedulingDaemon {
		return nil, ecs.NewInvalidParameterException("The DAEMON scheduling strategy does not support the EXTERNAL deployment controller.")
	}
	launchType, providers, err := launchChoice(cl, in.LaunchType, in.CapacityProviderStrategy)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	r := &state.Service{
		Schema: state.ServiceSchema, ARN: sc.ARN("service/" + cl.Name + "/" + name), Name: name, Cluster: cl.Name, ClusterARN: cl.ARN,
		Status: state.StatusActive, DesiredCount: int(ecs.Val(in.DesiredCount)), SchedulingStrategy: strategy,
		LaunchSpec: state.LaunchSpec{LaunchType: launchType, CapacityProviderStrategy: providers, PlatformVersion: ecs.Val(in.PlatformVersion),
			PlacementConstraints: in.PlacementConstraints, PlacementStrategy: in.PlacementStrategy,
			NetworkConfiguration: in.NetworkConfiguration, LoadBalancers: in.LoadBalancers, ServiceRegistries: in.ServiceRegistries,
			ServiceConnectConfiguration: in.ServiceConnectConfiguration},
		DeploymentConfiguration: mergeDeploymentConfiguration(defaultDeploymentConfiguration(strategy), in.DeploymentConfiguration),
		DeploymentController:    controller, HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
		Tags: in.Tags, EnableECSManagedTags: ecs.Val(in.EnableECSManagedTags), PropagateTags: string(in.PropagateTags),
		EnableExecuteCommand: ecs.Val(in.EnableExecuteCommand), AvailabilityZoneRebalancing: string(in.AvailabilityZoneRebalancing),
		RoleARN: ecs.Val(in.Role), CreatedBy: rootPrincipal(sc), CreatedAt: now, ClientToken: ecs.Val(in.ClientToken),
	}
	if r.PropagateTags == "" {
		r.PropagateTags = string(ecs.PropagateTagsNone)
	}
	if r.AvailabilityZoneRebalancing == "" {
		r.AvailabilityZoneRebalancing = string(ecs.AvailabilityZoneRebalancingDisabled)
	}
	var td *ecs.TaskDefinition
	switch {
	case in.TaskDefinition != nil:
		rec, err := s.serviceTaskDef(sc, *in.TaskDefinition)
		if err != nil {
			return nil, err
		}
		td = &rec.Definition
		r.TaskDefinitionARN = ecs.Val(td.TaskDefinitionArn)
	case controller != string(ecs.DeploymentControllerTypeExternal):
		return nil, ecs.NewInvalidParameterException("TaskDefinition must be specified.")
	}
	if err := s.checkService(sc, cl, r, td); err != nil {
		return nil, err
	}
	if controller != string(ecs.DeploymentControllerTypeExternal) {
		r.Deployments = []state.Deployment{r.NewDeployment(sc, now)}
	}
	if strategy == state.SchedulingDaemon && td != nil {
		// The first describe already shows how many tasks it will run.
		insts, err := s.placer.DaemonInstances(sc, cl, r)
		if err != nil {
			return nil, err
		}
		for _, inst := range insts {
			if inst.Eligible {
				r.DaemonDesired++
			}
		}
	}
	key := sc.Key(state.KindService, cl.Name, name)
	var out *state.Service
	err = s.update(ctx, func() ([]store.Op, error) {
		o, old, err := s.state.Service(sc, cl.Name, name)
		if err != nil {
			return nil, err
		}
		if old == nil {
			out = r
			return []store.Op{store.Create(key, r)}, nil
		}
		switch {
		case old.Status == state.StatusActive && r.ClientToken != "" && old.ClientToken == r.ClientToken:
			out = old // a retry of the call that created it
			return nil, nil
		case old.Status == state.StatusActive:
			return nil, ecs.NewInvalidParameterException("Creation of service was not idempotent.")
		case old.Status == state.StatusDraining:
			return nil, ecs.NewInvalidParameterException("Unable to Start a service that is still Draining.")
		}
		out = r // a deleted service's name may be used again
		return []store.Op{store.Put(key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	v := s.serviceView(sc, out, false)
	return &ecs.CreateServiceResponse{Service: &v}, nil
}

func (s *Server) UpdateService(ctx context.Context, in *ecs.UpdateServiceRequest) (*ecs.UpdateServiceResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	var out *state.Service
	err = s.update(ctx, func() ([]store.Op, error) {
		o, cur, err := s.activeService(sc, cl.Name, ecs.Val(in.Service))
		if err != nil {
			return nil, err
		}
		r, err := decodeCopy[state.Service](s, o)
		if err != nil {
			return nil, err
		}
		before := *cur
		external := r.External()
		if external && (in.TaskDefinition != nil || len(in.CapacityProviderStrategy) > 0 || in.NetworkConfiguration != nil ||
			in.PlatformVersion != nil || in.LoadBalancers != nil || in.ServiceRegistries != nil) {
			// ECS: with the EXTERNAL controller these belong to task sets.
			return nil, ecs.NewInvalidParameterException("The task definition, capacity provider strategy, platform version, network configuration, load balancers and service registries of a service with the EXTERNAL deployment controller are set on its task sets: create a new task set.")
		}
		if in.DeploymentController != nil && string(in.DeploymentController.Type) != r.DeploymentController {
			return nil, ecs.NewInvalidParameterException("Updating the deployment controller of a service is not supported by Berth.")
		}
		if in.DesiredCount != nil {
			if r.SchedulingStrategy == state.SchedulingDaemon {
				return nil, ecs.NewInvalidParameterException("The daemon scheduling strategy does not support a desired count for services.")
			}
			r.DesiredCount = int(*in.DesiredCount)
		}
		var td *ecs.TaskDefinition
		if in.TaskDefinition != nil {
			rec, err := s.serviceTaskDef(sc, *in.TaskDefinition)
			if err != nil {
				return nil, err
			}
			td = &rec.Definition
			r.TaskDefinitionARN = ecs.Val(td.TaskDefinitionArn)
		} else if r.TaskDefinitionARN != "" {
			_, rec, err := s.state.TaskDef(sc, r.TaskDefinitionARN)
			if err != nil {
				return nil, err
			}
			if rec != nil {
				td = &rec.Definition // the service keeps running it, even INACTIVE
			}
		}
		if len(in.CapacityProviderStrategy) > 0 {
			r.CapacityProviderStrategy, r.LaunchType = in.CapacityProviderStrategy, ""
		}
		r.DeploymentConfiguration = mergeDeploymentConfiguration(r.DeploymentConfiguration, in.DeploymentConfiguration)
		if in.NetworkConfiguration != nil {
			r.NetworkConfiguration = in.NetworkConfiguration
		}
		if in.PlacementConstraints != nil {
			r.PlacementConstraints = in.PlacementConstraints
		}
		if in.PlacementStrategy != nil {
			r.PlacementStrategy = in.PlacementStrategy
		}
		if in.PlatformVersion != nil {
			r.PlatformVersion = *in.PlatformVersion
		}
		if in.HealthCheckGracePeriodSeconds != nil {
			r.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
		}
		if in.EnableExecuteCommand != nil {
			r.EnableExecuteCommand = *in.EnableExecuteCommand
		}
		if in.EnableECSManagedTags != nil {
			r.EnableECSManagedTags = *in.EnableECSManagedTags
		}
		if in.PropagateTags != "" {
			r.PropagateTags = string(in.PropagateTags)
		}
		if in.LoadBalancers != nil {
			r.LoadBalancers = in.LoadBalancers
		}
		if in.ServiceRegistries != nil {
			r.ServiceRegistries = in.ServiceRegistries
		}
		if in.ServiceConnectConfiguration != nil {
			r.ServiceConnectConfiguration = in.ServiceConnectConfiguration
		}
		if in.AvailabilityZoneRebalancing != "" {
			r.AvailabilityZoneRebalancing = string(in.AvailabilityZoneRebalancing)
		}
		if err := s.checkService(sc, cl, r, td); err != nil {
			return nil, err
		}
		now := s.now().UTC()
		if !external && (ecs.Val(in.ForceNewDeployment) || needsNewDeployment(&before, r)) {
			r.Deploy(r.NewDeployment(sc, now), now)
		} else if p := r.Primary(); p != nil {
			p.DesiredCount = r.DesiredCount
			if r.DesiredCount != before.DesiredCount {
				r.SteadyAt = nil // a steady state at the new count is news again
			}
		}
		out = r
		return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	v := s.serviceView(sc, out, false)
	return &ecs.UpdateServiceResponse{Service: &v}, nil
}

// needsNewDeployment: the changes ECS rolls out as a new deployment, as
// opposed to those (desired count, deployment configuration, grace period)
// the current one simply takes on.
func needsNewDeployment(a, b *state.Service) bool {
	return !a.LaunchSpec.Equal(&b.LaunchSpec) ||
		a.EnableExecuteCommand != b.EnableExecuteCommand || a.EnableECSManagedTags != b.EnableECSManagedTags || a.PropagateTags != b.PropagateTags
}

func (s *Server) DeleteService(ctx context.Context, in *ecs.DeleteServiceRequest) (*ecs.DeleteServiceResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	var out *state.Service
	err = s.update(ctx, func() ([]store.Op, error) {
		o, cur, err := s.state.Service(sc, cl.Name, ecs.Val(in.Service))
		if err != nil {
			return nil, err
		}
		if cur == nil {
			return nil, ecs.NewServiceNotFoundException("Service not found.")
		}
		if cur.Status != state.StatusActive {
			return nil, ecs.NewServiceNotActiveException("Service was not ACTIVE.")
		}
		if cur.SchedulingStrategy == state.SchedulingReplica && cur.DesiredCount > 0 && !ecs.Val(in.Force) {
			return nil, ecs.NewInvalidParameterException("The service cannot be stopped while it is scaled above 0.")
		}
		r, err := decodeCopy[state.Service](s, o)
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		r.Status, r.DesiredCount, r.DeletedAt = state.StatusDraining, 0, &now
		for i := range r.Deployments {
			r.Deployments[i].DesiredCount = 0
		}
		out = r
		return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	v := s.serviceView(sc, out, false)
	return &ecs.DeleteServiceResponse{Service: &v}, nil
}

func (s *Server) DescribeServices(ctx context.Context, in *ecs.DescribeServicesRequest) (*ecs.DescribeServicesResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, ecs.NewInvalidParameterException("Services cannot be empty and can have at most 10 items.")
	}
	tags := slices.Contains(in.Include, ecs.ServiceFieldTags)
	out := &ecs.DescribeServicesResponse{Services: []ecs.Service{}, Failures: []ecs.Failure{}}
	for _, ref := range in.Services {
		_, r, err := s.state.Service(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if r == nil {
			arn := ref
			if !state.IsARN(ref) {
				arn = sc.ARN("service/" + cl.Name + "/" + ref)
			}
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(arn), Reason: ecs.Ptr("MISSING")})
			continue
		}
		out.Services = append(out.Services, s.serviceView(sc, r, tags))
	}
	return out, nil
}

func (s *Server) ListServices(ctx context.Context, in *ecs.ListServicesRequest) (*ecs.ListServicesResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	p, err := s.listPage(sc.Prefix(state.KindService)+cl.Name+"/", in.NextToken, in.MaxResults, 100, func(o *store.Object) bool {
		r, err := decode[state.Service](s, o)
		if err != nil || r.Status == state.StatusInactive {
			return false
		}
		if in.SchedulingStrategy != "" && r.SchedulingStrategy != string(in.SchedulingStrategy) {
			return false
		}
		return in.LaunchType == "" || r.LaunchType == string(in.LaunchType)
	})
	if err != nil {
		return nil, err
	}
	out := &ecs.ListServicesResponse{ServiceArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		if r, err := decode[state.Service](s, o); err == nil {
			out.ServiceArns = append(out.ServiceArns, r.ARN)
		}
	}
	return out, nil
}

// ListServicesByNamespace lists the services, in every cluster, whose
// Service Connect configuration names the namespace. Berth has no Cloud
// Map: the namespace is matched as given (a name or an ARN).
func (s *Server) ListServicesByNamespace(ctx context.Context, in *ecs.ListServicesByNamespaceRequest) (*ecs.ListServicesByNamespaceResponse, error) {
	sc := scopeOf(ctx)
	ns := ecs.Val(in.Namespace)
	p, err := s.listPage(sc.Prefix(state.KindService), in.NextToken, in.MaxResults, 100, func(o *store.Object) bool {
		r, err := decode[state.Service](s, o)
		if err != nil || r.Status == state.StatusInactive || r.ServiceConnectConfiguration == nil {
			return false
		}
		return ecs.Val(r.ServiceConnectConfiguration.Namespace) == ns
	})
	if err != nil {
		return nil, err
	}
	out := &ecs.ListServicesByNamespaceResponse{ServiceArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		if r, err := decode[state.Service](s, o); err == nil {
			out.ServiceArns = append(out.ServiceArns, r.ARN)
		}
	}
	return out, nil
}
