package server

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// The newer deployment APIs. A service deployment is one of a service's
// deployments (current, or in its bounded history), and its target service
// revision is the settings it rolls out. A rollback, which Berth runs as a
// deployment of its own, is shown as ECS shows it: as the rollback of the
// service deployment that failed or was stopped.

// deploymentRef is a parsed service-deployment or service-revision ARN.
type deploymentRef struct {
	cluster, service, id string
}

func parseDeploymentARN(sc state.Scope, arn, kind string) (deploymentRef, bool) {
	a, ok := state.ParseARN(arn)
	if !ok || a.Kind != kind || !a.InScope(sc) || len(a.Path) != 3 {
		return deploymentRef{}, false
	}
	return deploymentRef{cluster: a.Path[0], service: a.Path[1], id: a.Path[2]}, true
}

func (s *Server) ListServiceDeployments(ctx context.Context, in *ecs.ListServiceDeploymentsRequest) (*ecs.ListServiceDeploymentsResponse, error) {
	sc := scopeOf(ctx)
	r, err := s.existingService(sc, in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if r.DeploymentController != string(ecs.DeploymentControllerTypeEcs) {
		return nil, ecs.NewUnsupportedFeatureException("Service deployments are only available for services that use the ECS deployment controller.")
	}
	limit := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, errMaxResults(100)
		}
		limit = int(*in.MaxResults)
	}
	after := ""
	if in.NextToken != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil {
			return nil, errInvalidNextToken()
		}
		after = string(raw)
	}
	out := &ecs.ListServiceDeploymentsResponse{ServiceDeployments: []ecs.ServiceDeploymentBrief{}}
	skipping := after != ""
	for _, d := range r.AllDeployments() {
		if skipping {
			skipping = d.ID != after
			continue
		}
		if d.Rollback {
			continue // shown as the rollback of the deployment it undid
		}
		status := r.DeploymentStatus(d)
		if len(in.Status) > 0 && !slices.Contains(in.Status, status) {
			continue
		}
		if c := in.CreatedAt; c != nil && (c.Before != nil && !d.CreatedAt.Before(c.Before.Time) || c.After != nil && !d.CreatedAt.After(c.After.Time)) {
			continue
		}
		if len(out.ServiceDeployments) == limit {
			last := out.ServiceDeployments[limit-1]
			id := "ecs-svc/" + ecs.Val(last.ServiceDeploymentArn)[strings.LastIndex(ecs.Val(last.ServiceDeploymentArn), "/")+1:]
			out.NextToken = ecs.Ptr(base64.RawURLEncoding.EncodeToString([]byte(id)))
			break
		}
		out.ServiceDeployments = append(out.ServiceDeployments, ecs.ServiceDeploymentBrief{
			ServiceDeploymentArn: ecs.Ptr(serviceDeploymentARN(sc, r, d.ID)), ServiceArn: ecs.Ptr(r.ARN), ClusterArn: ecs.Ptr(r.ClusterARN),
			StartedAt: ecs.NewTimestamp(d.CreatedAt), CreatedAt: ecs.NewTimestamp(d.CreatedAt), FinishedAt: timestampOf(d.FinishedAt),
			TargetServiceRevisionArn: ecs.Ptr(d.RevisionARN), Status: status, StatusReason: strPtr(d.RolloutStateReason),
		})
	}
	return out, nil
}

// lookupDeployment finds the deployment a service-deployment ARN names.
func (s *Server) lookupDeployment(sc state.Scope, arn string) (*state.Service, *state.Deployment, *store.Object, error) {
	ref, ok := parseDeploymentARN(sc, arn, "service-deployment")
	if !ok {
		return nil, nil, nil, nil
	}
	o, r, err := s.state.Service(sc, ref.cluster, ref.service)
	if err != nil || r == nil {
		return nil, nil, nil, err
	}
	for _, d := range r.AllDeployments() {
		if d.ID == "ecs-svc/"+ref.id {
			return r, d, o, nil
		}
	}
	return nil, nil, nil, nil
}

func (s *Server) DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsRequest) (*ecs.DescribeServiceDeploymentsResponse, error) {
	sc := scopeOf(ctx)
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > 20 {
		return nil, ecs.NewInvalidParameterException("serviceDeploymentArns must contain between 1 and 20 items.")
	}
	out := &ecs.DescribeServiceDeploymentsResponse{ServiceDeployments: []ecs.ServiceDeployment{}, Failures: []ecs.Failure{}}
	for _, arn := range in.ServiceDeploymentArns {
		r, d, _, err := s.lookupDeployment(sc, arn)
		if err != nil {
			return nil, err
		}
		if d == nil || d.Rollback {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(arn), Reason: ecs.Ptr("MISSING")})
			continue
		}
		out.ServiceDeployments = append(out.ServiceDeployments, s.serviceDeploymentView(sc, r, d))
	}
	return out, nil
}

func (s *Server) serviceDeploymentView(sc state.Scope, r *state.Service, d *state.Deployment) ecs.ServiceDeployment {
	counts := map[string][2]int{} // deployment id -> running, pending
	for _, st := range s.state.ServiceTasks(sc, r.Cluster, r.Name) {
		t := st.Rec
		if !t.Live() {
			continue
		}
		c := counts[t.StartedBy]
		if t.LastStatus == "RUNNING" {
			c[0]++
		} else if state.IsPending(t.LastStatus) {
			c[1]++
		}
		counts[t.StartedBy] = c
	}
	summary := func(x *state.Deployment, requested int) *ecs.ServiceRevisionSummary {
		c := counts[x.ID]
		return &ecs.ServiceRevisionSummary{Arn: ecs.Ptr(x.RevisionARN), RequestedTaskCount: ecs.Ptr(int32(requested)),
			RunningTaskCount: ecs.Ptr(int32(c[0])), PendingTaskCount: ecs.Ptr(int32(c[1]))}
	}
	requested := 0
	if d.Status == state.DeploymentPrimary {
		requested = r.Desired()
	}
	dc := r.DeploymentConfiguration
	cbStatus := ecs.ServiceDeploymentRollbackMonitorsStatusDisabled
	if r.CircuitBreaker() {
		switch {
		case d.RolloutState == state.RolloutFailed:
			cbStatus = ecs.ServiceDeploymentRollbackMonitorsStatusTriggered
		case d.RolloutState == state.RolloutCompleted:
			cbStatus = ecs.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete
		default:
			cbStatus = ecs.ServiceDeploymentRollbackMonitorsStatusMonitoring
		}
	}
	out := ecs.ServiceDeployment{
		ServiceDeploymentArn: ecs.Ptr(serviceDeploymentARN(sc, r, d.ID)), ServiceArn: ecs.Ptr(r.ARN), ClusterArn: ecs.Ptr(r.ClusterARN),
		CreatedAt: ecs.NewTimestamp(d.CreatedAt), StartedAt: ecs.NewTimestamp(d.CreatedAt), FinishedAt: timestampOf(d.FinishedAt),
		StoppedAt: timestampOf(d.StoppedAt), UpdatedAt: ecs.NewTimestamp(d.UpdatedAt),
		SourceServiceRevisions: []ecs.ServiceRevisionSummary{}, TargetServiceRevision: summary(d, requested),
		Status: r.DeploymentStatus(d), StatusReason: strPtr(d.RolloutStateReason), DeploymentConfiguration: &dc,
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreaker{Status: cbStatus, FailureCount: ecs.Ptr(int32(d.FailedTasks)),
			Threshold: ecs.Ptr(int32(state.FailureThreshold(r.Desired())))},
		Alarms: &ecs.ServiceDeploymentAlarms{Status: ecs.ServiceDeploymentRollbackMonitorsStatusDisabled},
	}
	for _, src := range d.SourceRevisionARNs {
		for _, x := range r.AllDeployments() {
			if x.RevisionARN == src {
				out.SourceServiceRevisions = append(out.SourceServiceRevisions, *summary(x, 0))
				break
			}
		}
	}
	if back := r.RollbackOf(d); back != nil {
		out.Rollback = &ecs.Rollback{Reason: ecs.Ptr(back.RolloutStateReason), StartedAt: ecs.NewTimestamp(back.CreatedAt), ServiceRevisionArn: ecs.Ptr(back.RevisionARN)}
	}
	return out
}

func (s *Server) DescribeServiceRevisions(ctx context.Context, in *ecs.DescribeServiceRevisionsRequest) (*ecs.DescribeServiceRevisionsResponse, error) {
	sc := scopeOf(ctx)
	if len(in.ServiceRevisionArns) == 0 || len(in.ServiceRevisionArns) > 20 {
		return nil, ecs.NewInvalidParameterException("serviceRevisionArns must contain between 1 and 20 items.")
	}
	out := &ecs.DescribeServiceRevisionsResponse{ServiceRevisions: []ecs.ServiceRevision{}, Failures: []ecs.Failure{}}
	for _, arn := range in.ServiceRevisionArns {
		var found *state.Deployment
		var svc *state.Service
		if ref, ok := parseDeploymentARN(sc, arn, "service-revision"); ok {
			_, r, err := s.state.Service(sc, ref.cluster, ref.service)
			if err != nil {
				return nil, err
			}
			if r != nil {
				for _, d := range r.AllDeployments() {
					if d.RevisionARN == arn {
						found, svc = d, r
						break
					}
				}
			}
		}
		if found == nil {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(arn), Reason: ecs.Ptr("MISSING")})
			continue
		}
		rev := ecs.ServiceRevision{
			ServiceRevisionArn: ecs.Ptr(arn), ServiceArn: ecs.Ptr(svc.ARN), ClusterArn: ecs.Ptr(svc.ClusterARN),
			TaskDefinition: ecs.Ptr(found.TaskDefinitionARN), CapacityProviderStrategy: found.CapacityProviderStrategy,
			LaunchType: ecs.LaunchType(found.LaunchType), PlatformVersion: strPtr(found.PlatformVersion),
			LoadBalancers: found.LoadBalancers, ServiceRegistries: found.ServiceRegistries, NetworkConfiguration: found.NetworkConfiguration,
			ServiceConnectConfiguration: found.ServiceConnectConfiguration,
			ContainerImages:             []ecs.ContainerImage{}, GuardDutyEnabled: ecs.Ptr(false), CreatedAt: ecs.NewTimestamp(found.CreatedAt),
		}
		if _, td, err := s.state.TaskDef(sc, found.TaskDefinitionARN); err == nil && td != nil {
			for _, c := range td.Definition.ContainerDefinitions {
				rev.ContainerImages = append(rev.ContainerImages, ecs.ContainerImage{ContainerName: c.Name, Image: c.Image})
			}
		}
		out.ServiceRevisions = append(out.ServiceRevisions, rev)
	}
	return out, nil
}

// StopServiceDeployment stops a deployment in progress: ROLLBACK (the
// default) deploys the last completed one again; ABORT leaves the tasks as
// they are and launches no more for it.
func (s *Server) StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentRequest) (*ecs.StopServiceDeploymentResponse, error) {
	sc := scopeOf(ctx)
	arn := ecs.Val(in.ServiceDeploymentArn)
	stopType := in.StopType
	if stopType == "" {
		stopType = ecs.StopServiceDeploymentStopTypeRollback
	}
	err := s.update(ctx, func() ([]store.Op, error) {
		_, d, o, err := s.lookupDeployment(sc, arn)
		if err != nil {
			return nil, err
		}
		if d == nil || d.Rollback {
			return nil, ecs.NewServiceDeploymentNotFoundException("The service deployment %s does not exist.", arn)
		}
		r, err := decodeCopy[state.Service](s, o)
		if err != nil {
			return nil, err
		}
		cur := r.DeploymentByID(d.ID)
		if cur == nil || cur.Status != state.DeploymentPrimary || cur.RolloutState != state.RolloutInProgress || cur.Stopped {
			return nil, ecs.NewConflictException("The service deployment %s is not in progress and cannot be stopped.", arn)
		}
		now := s.now().UTC()
		cur.Stopped, cur.StoppedAt, cur.UpdatedAt, cur.FinishedAt = true, &now, now, &now
		cur.RolloutStateReason = "ECS deployment " + cur.ID + " stopped by request."
		if stopType == ecs.StopServiceDeploymentStopTypeRollback && !r.RollBack(sc, cur, "ECS deployment stopped by request: rolling back to deploymentId %s.", now) {
			return nil, ecs.NewConflictException("The service deployment %s has no completed deployment to roll back to.", arn)
		}
		return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.StopServiceDeploymentResponse{ServiceDeploymentArn: ecs.Ptr(arn)}, nil
}
