package server

import (
	"context"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler/query"
	"github.com/berth-project/berth/internal/store"
)

// clusterInstanceCount is the number of ACTIVE and DRAINING container
// instances registered in a cluster.
func (s *Server) clusterInstanceCount(sc state.Scope, cluster string) int {
	n := 0
	for _, o := range s.store.List(sc.Prefix(state.KindInstance)+cluster+"/", "", 0) {
		r, err := decode[state.Instance](s, o)
		if err == nil && (r.Status == state.StatusActive || r.Status == state.StatusDraining) && !state.IsFargateCapacity(r) {
			n++
		}
	}
	return n
}

func (s *Server) RegisterContainerInstance(ctx context.Context, in *ecs.RegisterContainerInstanceRequest) (*ecs.RegisterContainerInstanceResponse, error) {
	sc := scopeOf(ctx)
	if _, _, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster)); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := checkTotalResources(in.TotalResources); err != nil {
		return nil, err
	}
	doc, err := parseIdentityDocument(in.InstanceIdentityDocument)
	if err != nil {
		return nil, err
	}
	// ECS drops attributes that fail its rules instead of refusing the
	// registration; the agent notices by comparing what it sent with what
	// came back.
	attrs := mergeAttributes(validAttributesOnly(in.Attributes), doc.attributes())
	resources := withStandardResources(in.TotalResources, s.unreported)

	var result *state.Instance
	err = s.update(ctx, func() ([]store.Op, error) {
		co, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
		if err != nil {
			return nil, err
		}
		if in.ContainerInstanceArn != nil {
			return s.reregister(sc, cl.Name, ecs.Val(in.ContainerInstanceArn), doc, attrs, resources, in, &result)
		}
		if err := s.checkInstanceQuota(sc, cl.Name); err != nil {
			return nil, err
		}
		now := s.now().UTC()
		id := state.NewInstanceID()
		r := &state.Instance{
			Schema:              state.InstanceSchema,
			ARN:                 sc.ResourceARN("container-instance", cl.Name, id, s.state.LongARNFormat(sc, ecs.SettingNameContainerInstanceLongArnFormat)),
			ID:                  id,
			Cluster:             cl.Name,
			Status:              state.StatusActive,
			EC2InstanceID:       doc.InstanceID,
			Version:             1,
			VersionInfo:         ecs.Val(in.VersionInfo),
			RegisteredAt:        now,
			RegisteredResources: resources,
			RemainingResources:  resources,
			Attributes:          attrs,
			PlatformDevices:     in.PlatformDevices,
			Health:              initialHealth(now),
			// ECS learns an instance's capacity provider from its Auto
			// Scaling group; Berth's instances name theirs in an attribute.
			CapacityProviderName: state.AttributeValue(attrs, state.CapacityProviderAttribute),
			Tags:                 in.Tags,
		}
		result = r
		// A fresh key: Create's guard makes a clashing id retry with another.
		// The cluster is written back unchanged so that a DeleteCluster
		// racing with this registration conflicts instead of deleting a
		// cluster that has just gained an instance, and so that two
		// registrations racing at the instances quota conflict.
		return []store.Op{
			store.Create(sc.Key(state.KindInstance, cl.Name, id), r),
			store.Put(co.Key, cl, co.Rev),
		}, nil
	})
	if err != nil {
		return nil, err
	}
	if s.awaitAgent > 0 && in.ContainerInstanceArn == nil {
		result = s.awaitConnected(ctx, sc, result)
	}
	v := s.instanceView(sc, result, nil)
	return &ecs.RegisterContainerInstanceResponse{ContainerInstance: &v}, nil
}

// awaitConnected waits, for up to Options.AwaitAgent, until the view shows
// the new instance r with its agent connected, and answers the instance as
// it is then. An instance whose agent does not come in time is answered as
// registered: the registration has been made either way.
func (s *Server) awaitConnected(ctx context.Context, sc state.Scope, r *state.Instance) *state.Instance {
	ctx, cancel := context.WithTimeout(ctx, s.awaitAgent)
	defer cancel()
	for {
		changed := s.store.Changed()
		if o, cur, err := s.state.Instance(sc, r.Cluster, r.ARN); err == nil && o != nil && cur.AgentConnected {
			return cur
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return r
		}
	}
}

// reregister updates the instance that a registration names by ARN, as the
// agent does on every start: resources, agent attributes and versions are
// refreshed, the id is kept. As in ECS, custom attributes only take effect
// on the first registration; later ones keep those the instance has.
// ECS does not match registrations by EC2 instance id: without an ARN, a
// registration always makes a new container instance.
func (s *Server) reregister(sc state.Scope, cluster, ref string, doc identityDocument, attrs []ecs.Attribute, resources []ecs.Resource,
	in *ecs.RegisterContainerInstanceRequest, result **state.Instance) ([]store.Op, error) {
	id, _ := state.InstanceIDFrom(sc, cluster, ref)
	o, _, err := s.state.Instance(sc, cluster, ref)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, ecs.NewClientException("Referenced container instance %s not registered.", orRef(id, ref))
	}
	r, err := decodeCopy[state.Instance](s, o)
	if err != nil {
		return nil, err
	}
	if r.Status == state.StatusInactive {
		return nil, ecs.NewClientException("Container instance %s is inactive.", r.ID)
	}
	// Those ECS took from an identity document stay when this registration
	// comes without one.
	var kept, system []ecs.Attribute
	for _, a := range r.Attributes {
		name := ecs.Val(a.Name)
		if !isSystemAttribute(name) || isIdentityDocAttribute(name) && doc == (identityDocument{}) {
			kept = append(kept, a)
		}
	}
	for _, a := range attrs {
		if isSystemAttribute(ecs.Val(a.Name)) {
			system = append(system, a)
		}
	}
	r.Attributes = mergeAttributes(system, kept)
	if r.EC2InstanceID == "" {
		r.EC2InstanceID = doc.InstanceID
	}
	// What remains is what is registered now less what the instance's
	// unstopped tasks hold: the agent re-registers on every start, with
	// tasks still running, and those keep their share.
	r.RegisteredResources = resources
	r.RemainingResources = remainingOf(resources, s.state.TasksOn(sc, cluster, r.ID))
	if in.VersionInfo != nil {
		r.VersionInfo = *in.VersionInfo
	}
	if in.PlatformDevices != nil {
		r.PlatformDevices = in.PlatformDevices
	}
	r.Version++
	*result = r
	return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
}

// remainingOf is registered less the needs of tasks, the tasks not yet
// STOPPED on an instance. Reading the tasks from the view is safe within an
// update: a placement or a stop that changes them also writes the
// instance, so a registration planned on a stale view conflicts and is
// planned again.
func remainingOf(registered []ecs.Resource, tasks []*state.Task) []ecs.Resource {
	out := registered
	for _, t := range tasks {
		out = state.Adjusted(out, t.Needs, 1)
	}
	return out
}

func orRef(id, ref string) string {
	if id != "" {
		return id
	}
	return ref
}

// withStandardResources completes totalResources with the four that every
// EC2 container instance reports (CPU, MEMORY, PORTS, PORTS_UDP), so that
// a registration without them still describes, and places, like one.
func withStandardResources(rs []ecs.Resource, unreported map[string]int32) []ecs.Resource {
	out := append([]ecs.Resource(nil), rs...)
	has := map[string]bool{}
	for _, r := range rs {
		has[ecs.Val(r.Name)] = true
	}
	for _, name := range []string{"CPU", "MEMORY"} {
		if !has[name] {
			out = append(out, ecs.Resource{Name: ecs.Ptr(name), Type: ecs.Ptr("INTEGER"), IntegerValue: ecs.Ptr(unreported[name])})
		}
	}
	for _, name := range []string{"PORTS", "PORTS_UDP"} {
		if !has[name] {
			out = append(out, ecs.Resource{Name: ecs.Ptr(name), Type: ecs.Ptr("STRINGSET"), StringSetValue: []string{}})
		}
	}
	return out
}

// initialHealth is the health of an instance whose agent has not reported
// yet: the container runtime check is still INITIALIZING.
func initialHealth(now time.Time) *ecs.ContainerInstanceHealthStatus {
	ts := ecs.NewTimestamp(now)
	return &ecs.ContainerInstanceHealthStatus{
		OverallStatus: ecs.InstanceHealthCheckStateInitializing,
		Details: []ecs.InstanceHealthCheckResult{{
			Type:             ecs.InstanceHealthCheckTypeContainerRuntime,
			Status:           ecs.InstanceHealthCheckStateInitializing,
			LastUpdated:      ts,
			LastStatusChange: ts,
		}},
	}
}

func (s *Server) DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesRequest) (*ecs.DescribeContainerInstancesResponse, error) {
	sc := scopeOf(ctx)
	if len(in.ContainerInstances) > 100 {
		return nil, ecs.NewInvalidParameterException("instanceIds can have at most 100 items.")
	}
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	include := map[ecs.ContainerInstanceField]bool{}
	for _, f := range in.Include {
		include[f] = true
	}
	out := &ecs.DescribeContainerInstancesResponse{ContainerInstances: []ecs.ContainerInstance{}, Failures: []ecs.Failure{}}
	for _, ref := range in.ContainerInstances {
		_, r, err := s.state.Instance(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if r == nil {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(state.InstanceARNFor(sc, cl.Name, ref)), Reason: ecs.Ptr("MISSING")})
			continue
		}
		out.ContainerInstances = append(out.ContainerInstances, s.instanceView(sc, r, include))
	}
	return out, nil
}

// Without a status, ListContainerInstances shows every instance that is
// not INACTIVE.
func (s *Server) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesRequest) (*ecs.ListContainerInstancesResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	var filter query.Expr
	if f := ecs.Val(in.Filter); f != "" {
		if filter, err = placement.ParseFilter(f); err != nil {
			return nil, err
		}
	}
	p, err := s.listPage(sc.Prefix(state.KindInstance)+cl.Name+"/", in.NextToken, in.MaxResults, 100, func(o *store.Object) bool {
		r, err := decode[state.Instance](s, o)
		if err != nil {
			return false
		}
		if in.Status != "" && r.Status != string(in.Status) || in.Status == "" && r.Status == state.StatusInactive {
			return false
		}
		if state.IsFargateCapacity(r) {
			return false // ECS shows no instances for Fargate (fargate.go)
		}
		return filter == nil || filter.Match(queryInstance{s: s, sc: sc, r: r})
	})
	if err != nil {
		return nil, err
	}
	out := &ecs.ListContainerInstancesResponse{ContainerInstanceArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		r, err := decode[state.Instance](s, o)
		if err != nil {
			return nil, err
		}
		out.ContainerInstanceArns = append(out.ContainerInstanceArns, r.ARN)
	}
	return out, nil
}

func (s *Server) DeregisterContainerInstance(ctx context.Context, in *ecs.DeregisterContainerInstanceRequest) (*ecs.DeregisterContainerInstanceResponse, error) {
	sc := scopeOf(ctx)
	ref := ecs.Val(in.ContainerInstance)
	var result *state.Instance
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
		if err != nil {
			return nil, err
		}
		o, _, err := s.state.Instance(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if o == nil {
			id, _ := state.InstanceIDFrom(sc, cl.Name, ref)
			return nil, ecs.NewClientException("Referenced container instance %s not found.", orRef(id, ref))
		}
		r, err := decodeCopy[state.Instance](s, o)
		if err != nil {
			return nil, err
		}
		result = r
		if r.Status == state.StatusInactive {
			return nil, nil // already deregistered: nothing to change
		}
		// TODO(tasks): with force, orphan the instance's tasks.
		if !ecs.Val(in.Force) && s.instanceTaskCount(sc, r, "RUNNING")+s.instanceTaskCount(sc, r, "PENDING") > 0 {
			return nil, ecs.NewInvalidParameterException("The specified container instance has tasks. Stop them first, or deregister it with force.")
		}
		now := s.now().UTC()
		r.Status = state.StatusInactive
		r.AgentConnected = false
		r.DeregisteredAt = &now
		r.Version++
		return []store.Op{store.Put(o.Key, r, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	v := s.instanceView(sc, result, nil)
	return &ecs.DeregisterContainerInstanceResponse{ContainerInstance: &v}, nil
}

func (s *Server) UpdateContainerInstancesState(ctx context.Context, in *ecs.UpdateContainerInstancesStateRequest) (*ecs.UpdateContainerInstancesStateResponse, error) {
	sc := scopeOf(ctx)
	status := string(in.Status)
	if status != state.StatusActive && status != state.StatusDraining {
		return nil, ecs.NewInvalidParameterException("Container instances can only be set to ACTIVE or DRAINING; %s is not allowed.", status)
	}
	if len(in.ContainerInstances) > 10 {
		return nil, ecs.NewInvalidParameterException("instanceIds can have at most 10 items.")
	}
	var out *ecs.UpdateContainerInstancesStateResponse
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
		if err != nil {
			return nil, err
		}
		out = &ecs.UpdateContainerInstancesStateResponse{ContainerInstances: []ecs.ContainerInstance{}, Failures: []ecs.Failure{}}
		var ops []store.Op
		seen := map[string]bool{}
		for _, ref := range in.ContainerInstances {
			o, _, err := s.state.Instance(sc, cl.Name, ref)
			if err != nil {
				return nil, err
			}
			if o == nil {
				out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(state.InstanceARNFor(sc, cl.Name, ref)), Reason: ecs.Ptr("MISSING")})
				continue
			}
			if seen[o.Key] {
				continue // named twice: one change, one answer
			}
			seen[o.Key] = true
			r, err := decodeCopy[state.Instance](s, o)
			if err != nil {
				return nil, err
			}
			if r.Status == state.StatusInactive {
				out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(r.ARN), Reason: ecs.Ptr("INACTIVE")})
				continue
			}
			if r.Status != status {
				r.Status = status
				r.Version++
				ops = append(ops, store.Put(o.Key, r, o.Rev))
			}
			out.ContainerInstances = append(out.ContainerInstances, s.instanceView(sc, r, nil))
		}
		return ops, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// instanceView is the container instance as the API shows it, with the
// optional parts that include asks for.
func (s *Server) instanceView(sc state.Scope, r *state.Instance, include map[ecs.ContainerInstanceField]bool) ecs.ContainerInstance {
	vi := r.VersionInfo
	out := ecs.ContainerInstance{
		ContainerInstanceArn: ecs.Ptr(r.ARN),
		Version:              ecs.Ptr(r.Version),
		VersionInfo:          &vi,
		RegisteredResources:  r.RegisteredResources,
		RemainingResources:   r.RemainingResources,
		Status:               ecs.Ptr(r.Status),
		AgentConnected:       ecs.Ptr(r.AgentConnected),
		RunningTasksCount:    ecs.Ptr(int32(s.instanceTaskCount(sc, r, "RUNNING"))),
		PendingTasksCount:    ecs.Ptr(int32(s.instanceTaskCount(sc, r, "PENDING"))),
		AgentUpdateStatus:    r.AgentUpdateStatus,
		Attributes:           r.Attributes,
		RegisteredAt:         ecs.NewTimestamp(r.RegisteredAt),
		Attachments:          r.Attachments,
	}
	if r.EC2InstanceID != "" {
		out.Ec2InstanceId = ecs.Ptr(r.EC2InstanceID)
	}
	if r.CapacityProviderName != "" {
		out.CapacityProviderName = ecs.Ptr(r.CapacityProviderName)
	}
	if r.StatusReason != "" {
		out.StatusReason = ecs.Ptr(r.StatusReason)
	}
	if include[ecs.ContainerInstanceFieldTags] {
		out.Tags = r.Tags
	}
	if include[ecs.ContainerInstanceFieldContainerInstanceHealth] && r.Health != nil {
		out.HealthStatus = r.Health
	}
	return out
}

// checkTotalResources refuses the totalResources of a registration that
// would corrupt the accounting of the instance: entries without a name or
// given twice, negative amounts, sets listing a value twice, and ports that
// are not port numbers (placement compares ports as strings, so they must
// be in their canonical decimal form). ECS's messages for these are not
// documented; the wording is Berth's.
func checkTotalResources(rs []ecs.Resource) error {
	seen := map[string]bool{}
	for _, r := range rs {
		name := ecs.Val(r.Name)
		if name == "" {
			return ecs.NewInvalidParameterException("Every totalResources entry must have a name.")
		}
		if seen[name] {
			return ecs.NewInvalidParameterException("The totalResources entry %s is given more than once.", name)
		}
		seen[name] = true
		switch {
		case ecs.Val(r.IntegerValue) < 0:
			return ecs.NewInvalidParameterException("The totalResources entry %s has a negative integerValue (%d).", name, ecs.Val(r.IntegerValue))
		case ecs.Val(r.LongValue) < 0:
			return ecs.NewInvalidParameterException("The totalResources entry %s has a negative longValue (%d).", name, ecs.Val(r.LongValue))
		case ecs.Val(r.DoubleValue) < 0:
			return ecs.NewInvalidParameterException("The totalResources entry %s has a negative doubleValue (%g).", name, ecs.Val(r.DoubleValue))
		}
		values := map[string]bool{}
		for _, v := range r.StringSetValue {
			if values[v] {
				return ecs.NewInvalidParameterException("The totalResources entry %s lists %q more than once.", name, v)
			}
			values[v] = true
			if name == "PORTS" || name == "PORTS_UDP" {
				if p, err := strconv.Atoi(v); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != v {
					return ecs.NewInvalidParameterException("The totalResources entry %s lists %q, which is not a port number from 1 to 65535.", name, v)
				}
			}
		}
	}
	return nil
}
