package server

import (
	"slices"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
)

// What CreateService and UpdateService check of a service, and the
// settings they fill in, as ECS does.

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
	if err := checkNetworkConfiguration(r.NetworkConfiguration); err != nil {
		return err
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
		return errLaunchTypeUnsupported(lt)
	}
	if err := checkPlatformVersion(lt, r.PlatformVersion); err != nil {
		return err
	}
	if lt == string(ecs.LaunchTypeFargate) {
		if err := checkFargateLaunch(r.PlacementConstraints, r.PlacementStrategy, td, nil); err != nil {
			return err
		}
	}
	if err := checkAwsvpc(td.NetworkMode, r.NetworkConfiguration, lt); err != nil {
		return err
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

// ECS's limits on an awsvpcConfiguration.
const (
	maxAwsvpcSubnets        = 16
	maxAwsvpcSecurityGroups = 5
)

// checkNetworkConfiguration applies ECS's limits on the subnets and
// security groups of an awsvpcConfiguration, wherever one is taken
// (services, task sets, RunTask and StartTask), in ECS's words.
func checkNetworkConfiguration(nc *ecs.NetworkConfiguration) error {
	if nc == nil || nc.AwsvpcConfiguration == nil {
		return nil
	}
	if len(nc.AwsvpcConfiguration.Subnets) > maxAwsvpcSubnets {
		return ecs.NewInvalidParameterException("subnets can have at most %d items.", maxAwsvpcSubnets)
	}
	if len(nc.AwsvpcConfiguration.SecurityGroups) > maxAwsvpcSecurityGroups {
		return ecs.NewInvalidParameterException("securityGroups can have at most %d items.", maxAwsvpcSecurityGroups)
	}
	return nil
}

// checkAwsvpc applies ECS's rules on a launch's network configuration, as
// its task definition's network mode and its launch type have them: awsvpc
// needs one, with a subnet; no other mode takes one; a public address is
// Fargate's only.
func checkAwsvpc(mode ecs.NetworkMode, nc *ecs.NetworkConfiguration, launchType string) error {
	given := nc != nil && nc.AwsvpcConfiguration != nil
	if mode != ecs.NetworkModeAwsvpc {
		if given {
			return ecs.NewInvalidParameterException("Network Configuration is not valid for the given networkMode of this task definition.")
		}
		return nil
	}
	if !given {
		return errAwsvpcNeedsNetwork()
	}
	vpc := nc.AwsvpcConfiguration
	if len(vpc.Subnets) == 0 {
		return ecs.NewInvalidParameterException("subnets can not be empty.")
	}
	if vpc.AssignPublicIp == ecs.AssignPublicIpEnabled && launchType != string(ecs.LaunchTypeFargate) {
		return ecs.NewInvalidParameterException("Assign public IP is not supported for this launch type.")
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

// activeTaskDef resolves a taskDefinition parameter: it must exist and be
// ACTIVE.
func (s *Server) activeTaskDef(sc state.Scope, ref string) (*state.TaskDef, error) {
	_, td, err := s.state.TaskDef(sc, ref)
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, errTaskDefNotFound()
	}
	if td.Status != state.StatusActive {
		return nil, errTaskDefInactive()
	}
	return td, nil
}
