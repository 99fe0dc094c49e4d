package server

import (
	"context"
	"slices"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// The service operations. They change what is desired, in the service
// record; the service scheduler (internal/controller/service) makes it so.

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
		return nil, errDaemonDesiredCount()
	}
	if err := s.checkDesiredCount(ecs.Val(in.DesiredCount)); err != nil {
		return nil, err
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
		Schema: state.ServiceSchema, ARN: sc.ResourceARN("service", cl.Name, name, s.state.LongARNFormat(sc, ecs.SettingNameServiceLongArnFormat)), Name: name, Cluster: cl.Name, ClusterARN: cl.ARN,
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
		rec, err := s.activeTaskDef(sc, *in.TaskDefinition)
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
		co, cl, err := s.state.ActiveCluster(sc, cl.Name)
		if err != nil {
			return nil, err
		}
		o, old, err := s.state.Service(sc, cl.Name, name)
		if err != nil {
			return nil, err
		}
		// A new service is counted against the cluster's quota, and the
		// cluster is written back unchanged, so that two creations racing
		// at the quota conflict and the second counts again.
		quotaChecked := func(write store.Op) ([]store.Op, error) {
			if err := s.checkServiceQuota(sc, cl.Name); err != nil {
				return nil, err
			}
			out = r
			return []store.Op{write, store.Put(co.Key, cl, co.Rev)}, nil
		}
		if old == nil {
			return quotaChecked(store.Create(key, r))
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
		return quotaChecked(store.Put(key, r, o.Rev)) // a deleted service's name may be used again
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
				return nil, errDaemonDesiredCount()
			}
			if err := s.checkDesiredCount(*in.DesiredCount); err != nil {
				return nil, err
			}
			r.DesiredCount = int(*in.DesiredCount)
		}
		var td *ecs.TaskDefinition
		if in.TaskDefinition != nil {
			rec, err := s.activeTaskDef(sc, *in.TaskDefinition)
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
			return nil, errServiceNotFound()
		}
		if cur.Status != state.StatusActive {
			return nil, errServiceNotActive()
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
