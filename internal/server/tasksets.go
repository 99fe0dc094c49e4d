package server

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Task sets: the EXTERNAL deployment controller's unit of deployment. A
// service with that controller has no deployments of its own; whoever
// deploys it (a CD tool) creates task sets, scales each as a percentage of
// the service's desired count, and names one of them PRIMARY. The service
// scheduler keeps each task set at its computed desired count
// (tasksetctl.go). Task sets live inside their service's record, so a task
// set and the service it belongs to always change together.

// errNotExternal is ECS's answer to task set calls on a service that has
// another deployment controller.
func errNotExternal() error {
	return ecs.NewInvalidParameterException("Amazon ECS only supports task set management on services configured to use external deployment controllers.")
}

func errTaskSetNotFound() error {
	return ecs.NewTaskSetNotFoundException("The specified task set does not exist.")
}

// scalePercent checks a Scale as ECS takes it: PERCENT, 0 to 100.
func scalePercent(in *ecs.Scale) (float64, error) {
	if in == nil {
		return 100, nil
	}
	if in.Unit != "" && in.Unit != ecs.ScaleUnitPercent {
		return 0, ecs.NewInvalidParameterException("Scale unit must be PERCENT.")
	}
	v := ecs.Val(in.Value)
	if math.IsNaN(v) || v < 0 || v > 100 {
		return 0, ecs.NewInvalidParameterException("Scale value must be between 0 and 100.")
	}
	return v, nil
}

// externalService finds the ACTIVE service a task set call acts on.
func (s *Server) externalService(sc state.Scope, clusterRef, serviceRef *string) (*state.Cluster, *store.Object, *state.Service, error) {
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(clusterRef))
	if err != nil {
		return nil, nil, nil, err
	}
	o, cur, err := s.activeService(sc, cl.Name, ecs.Val(serviceRef))
	if err != nil {
		return nil, nil, nil, err
	}
	if cur.DeploymentController != string(ecs.DeploymentControllerTypeExternal) {
		return nil, nil, nil, errNotExternal()
	}
	return cl, o, cur, nil
}

func (s *Server) CreateTaskSet(ctx context.Context, in *ecs.CreateTaskSetRequest) (*ecs.CreateTaskSetResponse, error) {
	sc := scopeOf(ctx)
	pct, err := scalePercent(in.Scale)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	td, err := s.activeTaskDef(sc, ecs.Val(in.TaskDefinition))
	if err != nil {
		return nil, err
	}
	var out *state.TaskSet
	var svc *state.Service
	err = s.update(ctx, func() ([]store.Op, error) {
		cl, o, _, err := s.externalService(sc, in.Cluster, in.Service)
		if err != nil {
			return nil, err
		}
		r, err := decodeCopy[state.Service](s, o)
		if err != nil {
			return nil, err
		}
		if token := ecs.Val(in.ClientToken); token != "" {
			if i := slices.IndexFunc(r.TaskSets, func(ts state.TaskSet) bool { return ts.ClientToken == token }); i >= 0 {
				out, svc = &r.TaskSets[i], r // a retry of the call that created it
				return nil, nil
			}
		}
		if len(r.TaskSets) >= state.MaxTaskSets {
			return nil, ecs.NewLimitExceededException("A service can have at most %d task sets.", state.MaxTaskSets)
		}
		now := s.now().UTC()
		id := state.NewDeploymentID()
		ts := state.TaskSet{
			ID: id, ARN: sc.ARN("task-set/" + r.Cluster + "/" + r.Name + "/" + id), Status: state.TaskSetActive, ExternalID: ecs.Val(in.ExternalId),
			LaunchSpec: state.LaunchSpec{TaskDefinitionARN: ecs.Val(td.Definition.TaskDefinitionArn), PlatformVersion: ecs.Val(in.PlatformVersion),
				NetworkConfiguration: in.NetworkConfiguration, LoadBalancers: in.LoadBalancers, ServiceRegistries: in.ServiceRegistries},
			ScalePercent: pct, StabilityStatus: string(ecs.StabilityStatusStabilizing), StabilityStatusAt: now,
			Tags: in.Tags, ClientToken: ecs.Val(in.ClientToken), CreatedAt: now, UpdatedAt: now,
		}
		if ts.LaunchType, ts.CapacityProviderStrategy, err = launchChoice(cl, in.LaunchType, in.CapacityProviderStrategy); err != nil {
			return nil, err
		}
		// The service's rules (launch type, ports of its load balancers,
		// network configuration) hold for the task set as they would for a
		// service running it.
		check := *r
		check.TakeSettingsOf(&ts)
		if err := s.checkService(sc, cl, &check, &td.Definition); err != nil {
			return nil, err
		}
		r.TaskSets = append(r.TaskSets, ts)
		r.SteadyAt = nil
		out, svc = &r.TaskSets[len(r.TaskSets)-1], r
		return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	v := taskSetView(svc, out, s.countTasksByStarter(sc, svc), true)
	return &ecs.CreateTaskSetResponse{TaskSet: &v}, nil
}

// changeTaskSet applies change to a task set of an EXTERNAL service, writes
// the service back and answers the task set as it is then. A change that
// returns state.ErrUnchanged writes nothing.
func (s *Server) changeTaskSet(ctx context.Context, clusterRef, serviceRef, taskSetRef *string, change func(*state.Service, *state.TaskSet, time.Time) error) (*ecs.TaskSet, error) {
	sc := scopeOf(ctx)
	var svc *state.Service
	var out *state.TaskSet
	err := s.update(ctx, func() ([]store.Op, error) {
		_, o, _, err := s.externalService(sc, clusterRef, serviceRef)
		if err != nil {
			return nil, err
		}
		r, err := decodeCopy[state.Service](s, o)
		if err != nil {
			return nil, err
		}
		ts := r.FindTaskSet(ecs.Val(taskSetRef))
		if ts == nil {
			return nil, errTaskSetNotFound()
		}
		svc, out = r, ts
		now := s.now().UTC()
		if err := change(r, ts, now); err == state.ErrUnchanged {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		ts.UpdatedAt = now
		r.SteadyAt = nil
		return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	v := taskSetView(svc, out, s.countTasksByStarter(sc, svc), false)
	return &v, nil
}

func (s *Server) UpdateTaskSet(ctx context.Context, in *ecs.UpdateTaskSetRequest) (*ecs.UpdateTaskSetResponse, error) {
	pct, err := scalePercent(in.Scale)
	if err != nil {
		return nil, err
	}
	v, err := s.changeTaskSet(ctx, in.Cluster, in.Service, in.TaskSet, func(_ *state.Service, ts *state.TaskSet, now time.Time) error {
		if ts.Status == state.TaskSetDraining {
			return ecs.NewInvalidParameterException("The task set is being deleted and cannot be updated.")
		}
		ts.ScalePercent = pct
		ts.StabilityStatus, ts.StabilityStatusAt = string(ecs.StabilityStatusStabilizing), now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.UpdateTaskSetResponse{TaskSet: v}, nil
}

func (s *Server) UpdateServicePrimaryTaskSet(ctx context.Context, in *ecs.UpdateServicePrimaryTaskSetRequest) (*ecs.UpdateServicePrimaryTaskSetResponse, error) {
	v, err := s.changeTaskSet(ctx, in.Cluster, in.Service, in.PrimaryTaskSet, func(r *state.Service, ts *state.TaskSet, now time.Time) error {
		if ts.Status == state.TaskSetDraining {
			return ecs.NewInvalidParameterException("The task set is being deleted and cannot be made the primary task set.")
		}
		for i := range r.TaskSets {
			if other := &r.TaskSets[i]; other.Status == state.TaskSetPrimary && other.ID != ts.ID {
				other.Status, other.UpdatedAt = state.TaskSetActive, now
			}
		}
		ts.Status = state.TaskSetPrimary
		r.TakeSettingsOf(ts)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.UpdateServicePrimaryTaskSetResponse{TaskSet: v}, nil
}

// DeleteTaskSet marks a task set DRAINING; the service scheduler stops its
// tasks and then removes it.
func (s *Server) DeleteTaskSet(ctx context.Context, in *ecs.DeleteTaskSetRequest) (*ecs.DeleteTaskSetResponse, error) {
	v, err := s.changeTaskSet(ctx, in.Cluster, in.Service, in.TaskSet, func(r *state.Service, ts *state.TaskSet, now time.Time) error {
		if ts.Status == state.TaskSetDraining {
			return state.ErrUnchanged // already being deleted
		}
		if ts.ComputedDesired(r) > 0 && !ecs.Val(in.Force) {
			return ecs.NewInvalidParameterException("The task set cannot be deleted while it is scaled above 0. Scale it to 0 first, or delete it with force.")
		}
		if ts.Status == state.TaskSetPrimary {
			r.TakeSettingsOf(&state.TaskSet{}) // no primary: the service shows no task set's settings
		}
		ts.Status = state.TaskSetDraining
		ts.StabilityStatus, ts.StabilityStatusAt = string(ecs.StabilityStatusStabilizing), now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.DeleteTaskSetResponse{TaskSet: v}, nil
}

func (s *Server) DescribeTaskSets(ctx context.Context, in *ecs.DescribeTaskSetsRequest) (*ecs.DescribeTaskSetsResponse, error) {
	sc := scopeOf(ctx)
	r, err := s.existingService(sc, in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if r.Status == state.StatusInactive {
		return nil, errServiceNotActive()
	}
	if r.DeploymentController != string(ecs.DeploymentControllerTypeExternal) {
		return nil, errNotExternal()
	}
	tags := slices.Contains(in.Include, ecs.TaskSetFieldTags)
	counts := s.countTasksByStarter(sc, r)
	out := &ecs.DescribeTaskSetsResponse{TaskSets: []ecs.TaskSet{}, Failures: []ecs.Failure{}}
	if len(in.TaskSets) == 0 {
		for i := range r.TaskSets {
			out.TaskSets = append(out.TaskSets, taskSetView(r, &r.TaskSets[i], counts, tags))
		}
		return out, nil
	}
	for _, ref := range in.TaskSets {
		ts := r.FindTaskSet(ref)
		if ts == nil {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(ref), Reason: ecs.Ptr("MISSING")})
			continue
		}
		out.TaskSets = append(out.TaskSets, taskSetView(r, ts, counts, tags))
	}
	return out, nil
}

// starterCounts counts a service's tasks by the task set (or deployment)
// that started them: running, pending, and not yet stopping.
type starterCounts struct{ running, pending, live int }

func (s *Server) countTasksByStarter(sc state.Scope, r *state.Service) map[string]*starterCounts {
	out := map[string]*starterCounts{}
	for _, st := range s.state.ServiceTasks(sc, r.Cluster, r.Name) {
		t := st.Rec
		c := out[t.StartedBy]
		if c == nil {
			c = &starterCounts{}
			out[t.StartedBy] = c
		}
		if !t.Live() {
			continue
		}
		c.live++
		switch {
		case t.LastStatus == "RUNNING":
			c.running++
		case state.IsPending(t.LastStatus):
			c.pending++
		}
	}
	return out
}

// taskSetView is a task set as the ECS API shows it, with its task counts
// (countTasksByStarter) as they are now.
func taskSetView(r *state.Service, ts *state.TaskSet, byStarter map[string]*starterCounts, withTags bool) ecs.TaskSet {
	c := byStarter[ts.ID]
	if c == nil {
		c = &starterCounts{}
	}
	v := ecs.TaskSet{
		Id: ecs.Ptr(ts.ID), TaskSetArn: ecs.Ptr(ts.ARN), ServiceArn: ecs.Ptr(r.ARN), ClusterArn: ecs.Ptr(r.ClusterARN),
		ExternalId: strPtr(ts.ExternalID), Status: ecs.Ptr(ts.Status), TaskDefinition: ecs.Ptr(ts.TaskDefinitionARN),
		ComputedDesiredCount: ecs.Ptr(int32(ts.ComputedDesired(r))), PendingCount: ecs.Ptr(int32(c.pending)), RunningCount: ecs.Ptr(int32(c.running)),
		CreatedAt: ecs.NewTimestamp(ts.CreatedAt), UpdatedAt: ecs.NewTimestamp(ts.UpdatedAt), LaunchType: ecs.LaunchType(ts.LaunchType),
		CapacityProviderStrategy: ts.CapacityProviderStrategy, PlatformVersion: strPtr(ts.PlatformVersion), NetworkConfiguration: ts.NetworkConfiguration,
		LoadBalancers: ts.LoadBalancers, ServiceRegistries: ts.ServiceRegistries,
		Scale:           &ecs.Scale{Value: ecs.Ptr(ts.ScalePercent), Unit: ecs.ScaleUnitPercent},
		StabilityStatus: ecs.StabilityStatus(ts.StabilityStatus), StabilityStatusAt: ecs.NewTimestamp(ts.StabilityStatusAt),
	}
	if withTags {
		v.Tags = orEmpty(ts.Tags)
	}
	return v
}
