package server

import (
	"regexp"
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Services. A service record holds what the user asked for (the service's
// settings), the deployments in progress, and the events the service
// scheduler wrote. What the service has (running and pending counts) is not
// stored: it is counted from its tasks at read time, so it never drifts.
// Key: services/<account>/<region>/<cluster>/<name>.

var serviceNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// existingService finds a service a read names, in any status:
// ServiceNotFound for none.
func (s *Server) existingService(sc state.Scope, clusterRef, serviceRef *string) (*state.Service, error) {
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(clusterRef))
	if err != nil {
		return nil, err
	}
	_, r, err := s.state.Service(sc, cl.Name, ecs.Val(serviceRef))
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errServiceNotFound()
	}
	return r, nil
}

// activeService finds a service an update may change: ServiceNotFound for
// none, ServiceNotActive for one being deleted or deleted.
func (s *Server) activeService(sc state.Scope, cluster, ref string) (*store.Object, *state.Service, error) {
	o, r, err := s.state.Service(sc, cluster, ref)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return nil, nil, errServiceNotFound()
	}
	if r.Status != state.StatusActive {
		return nil, nil, errServiceNotActive()
	}
	return o, r, nil
}

// serviceView is the service as DescribeServices shows it, with the counts
// of its tasks as they are now.
func (s *Server) serviceView(sc state.Scope, r *state.Service, withTags bool) ecs.Service {
	byStarter := s.countTasksByStarter(sc, r)
	var all starterCounts
	for _, c := range byStarter {
		all.running += c.running
		all.pending += c.pending
	}
	desired := r.DesiredCount
	if r.SchedulingStrategy == state.SchedulingDaemon && r.Status == state.StatusActive {
		desired = r.DaemonDesired
	}
	dc := r.DeploymentConfiguration
	out := ecs.Service{
		ServiceArn: ecs.Ptr(r.ARN), ServiceName: ecs.Ptr(r.Name), ClusterArn: ecs.Ptr(r.ClusterARN),
		LoadBalancers: r.LoadBalancers, ServiceRegistries: r.ServiceRegistries, Status: ecs.Ptr(r.Status),
		DesiredCount: ecs.Ptr(int32(desired)), RunningCount: ecs.Ptr(int32(all.running)), PendingCount: ecs.Ptr(int32(all.pending)),
		LaunchType: ecs.LaunchType(r.LaunchType), CapacityProviderStrategy: r.CapacityProviderStrategy, PlatformVersion: strPtr(r.PlatformVersion),
		TaskDefinition: strPtr(r.TaskDefinitionARN), DeploymentConfiguration: &dc,
		RoleArn: strPtr(r.RoleARN), CreatedAt: ecs.NewTimestamp(r.CreatedAt), PlacementConstraints: r.PlacementConstraints,
		PlacementStrategy: r.PlacementStrategy, NetworkConfiguration: r.NetworkConfiguration,
		HealthCheckGracePeriodSeconds: r.HealthCheckGracePeriodSeconds, SchedulingStrategy: ecs.SchedulingStrategy(r.SchedulingStrategy),
		DeploymentController: &ecs.DeploymentController{Type: ecs.DeploymentControllerType(r.DeploymentController)},
		CreatedBy:            strPtr(r.CreatedBy), EnableECSManagedTags: ecs.Ptr(r.EnableECSManagedTags), PropagateTags: ecs.PropagateTags(r.PropagateTags),
		EnableExecuteCommand: ecs.Ptr(r.EnableExecuteCommand), AvailabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing(r.AvailabilityZoneRebalancing),
	}
	if withTags {
		out.Tags = orEmpty(r.Tags)
	}
	for _, d := range r.Deployments {
		c := byStarter[d.ID]
		if c == nil {
			c = &starterCounts{}
		}
		want := d.DesiredCount
		if d.Status == state.DeploymentPrimary {
			want = desired
		} else {
			want = c.live // an older deployment is drained down to nothing
		}
		out.Deployments = append(out.Deployments, ecs.Deployment{
			Id: ecs.Ptr(d.ID), Status: ecs.Ptr(d.Status), TaskDefinition: ecs.Ptr(d.TaskDefinitionARN),
			DesiredCount: ecs.Ptr(int32(want)), PendingCount: ecs.Ptr(int32(c.pending)), RunningCount: ecs.Ptr(int32(c.running)),
			FailedTasks: ecs.Ptr(int32(d.FailedTasks)), CreatedAt: ecs.NewTimestamp(d.CreatedAt), UpdatedAt: ecs.NewTimestamp(d.UpdatedAt),
			LaunchType: ecs.LaunchType(d.LaunchType), CapacityProviderStrategy: d.CapacityProviderStrategy, PlatformVersion: strPtr(d.PlatformVersion),
			NetworkConfiguration: d.NetworkConfiguration, RolloutState: ecs.DeploymentRolloutState(d.RolloutState), RolloutStateReason: ecs.Ptr(d.RolloutStateReason),
			ServiceConnectConfiguration: d.ServiceConnectConfiguration,
		})
		if d.Status == state.DeploymentPrimary {
			out.CurrentServiceDeployment = ecs.Ptr(serviceDeploymentARN(sc, r, d.ID))
		}
	}
	if r.DeploymentController != string(ecs.DeploymentControllerTypeEcs) {
		out.TaskSets = []ecs.TaskSet{} // ECS answers them, [] when none, only where task sets can be
	}
	for i := range r.TaskSets {
		out.TaskSets = append(out.TaskSets, taskSetView(r, &r.TaskSets[i], byStarter, withTags))
	}
	for _, e := range r.Events {
		out.Events = append(out.Events, ecs.ServiceEvent{Id: ecs.Ptr(e.ID), CreatedAt: ecs.NewTimestamp(e.CreatedAt), Message: ecs.Ptr(e.Message)})
	}
	return out
}

// serviceDeploymentARN names a deployment in the newer deployment APIs.
func serviceDeploymentARN(sc state.Scope, r *state.Service, id string) string {
	return sc.ARN("service-deployment/" + r.Cluster + "/" + r.Name + "/" + strings.TrimPrefix(id, "ecs-svc/"))
}
