package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler/query"
	"github.com/berth-project/berth/internal/store"
)

// instanceRecord is a container instance as stored. Deregistered instances
// stay stored as INACTIVE, describable as in ECS.
type instanceRecord struct {
	Schema               int                                `json:"schema"`
	ARN                  string                             `json:"arn"`
	ID                   string                             `json:"id"`
	Cluster              string                             `json:"cluster"`
	Status               string                             `json:"status"` // ACTIVE, DRAINING or INACTIVE
	StatusReason         string                             `json:"statusReason,omitempty"`
	EC2InstanceID        string                             `json:"ec2InstanceId,omitempty"`
	CapacityProviderName string                             `json:"capacityProviderName,omitempty"`
	Version              int64                              `json:"version"` // bumped on every change, as ECS's is
	VersionInfo          ecs.VersionInfo                    `json:"versionInfo"`
	RegisteredAt         time.Time                          `json:"registeredAt"`
	DeregisteredAt       *time.Time                         `json:"deregisteredAt,omitempty"`
	RegisteredResources  []ecs.Resource                     `json:"registeredResources,omitempty"`
	RemainingResources   []ecs.Resource                     `json:"remainingResources,omitempty"`
	Attributes           []ecs.Attribute                    `json:"attributes,omitempty"` // name and value only
	PlatformDevices      []ecs.PlatformDevice               `json:"platformDevices,omitempty"`
	AgentConnected       bool                               `json:"agentConnected"`
	AgentSession         string                             `json:"agentSession,omitempty"`        // the ACS session that set AgentConnected
	AgentDisconnectedAt  *time.Time                         `json:"agentDisconnectedAt,omitempty"` // when its agent's session ended; nil while connected
	AgentUpdateStatus    ecs.AgentUpdateStatus              `json:"agentUpdateStatus,omitempty"`
	Attachments          []ecs.Attachment                   `json:"attachments,omitempty"`
	Health               *ecs.ContainerInstanceHealthStatus `json:"health,omitempty"`
	Tags                 []ecs.Tag                          `json:"tags,omitempty"`
}

const instanceSchema = 1

const statusDraining = "DRAINING"

// capacityProviderAttribute, set when an instance registers, puts it in a
// capacity provider; FARGATE and FARGATE_SPOT designate capacity for Fargate.
const capacityProviderAttribute = "berth.capacity-provider"

// newInstanceID is a fresh container instance id: 32 hex digits, the form
// ECS uses today.
func newInstanceID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// instanceIDFrom returns the id of the container instance that a reference
// (an id, or an ARN in the long cluster/id or the old short format) names
// in cluster, and false when it cannot name one there.
func instanceIDFrom(sc scope, cluster, ref string) (string, bool) {
	if !isARN(ref) {
		return ref, ref != "" && !strings.Contains(ref, "/")
	}
	a, ok := parseARN(ref)
	if !ok || a.kind != "container-instance" || !a.inScope(sc) {
		return "", false
	}
	switch len(a.path) {
	case 1:
		return a.path[0], true
	case 2:
		return a.path[1], a.path[0] == cluster
	}
	return "", false
}

// instanceARNFor is the ARN that a failure reports for a reference.
func instanceARNFor(sc scope, cluster, ref string) string {
	if isARN(ref) {
		return ref
	}
	return sc.arn("container-instance/" + cluster + "/" + ref)
}

// findInstance looks a container instance up in a cluster; nil means none.
func (s *Server) findInstance(sc scope, cluster, ref string) (*store.Object, *instanceRecord, error) {
	id, ok := instanceIDFrom(sc, cluster, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.key(kindInstance, cluster, id))
	if !found {
		return nil, nil, nil
	}
	r, err := decode[instanceRecord](s, o)
	if err != nil {
		return nil, nil, err
	}
	return o, r, nil
}

// clusterInstanceCount is the number of ACTIVE and DRAINING container
// instances registered in a cluster.
func (s *Server) clusterInstanceCount(sc scope, cluster string) int {
	n := 0
	for _, o := range s.store.List(sc.prefix(kindInstance)+cluster+"/", "", 0) {
		r, err := decode[instanceRecord](s, o)
		if err == nil && (r.Status == statusActive || r.Status == statusDraining) {
			n++
		}
	}
	return n
}

func (s *Server) RegisterContainerInstance(ctx context.Context, in *ecs.RegisterContainerInstanceRequest) (*ecs.RegisterContainerInstanceResponse, error) {
	sc := scopeOf(ctx)
	if _, _, err := s.activeCluster(sc, in.Cluster); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
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
	resources := withStandardResources(in.TotalResources)

	var result *instanceRecord
	err = s.update(ctx, func() ([]store.Op, error) {
		co, cl, err := s.activeCluster(sc, in.Cluster)
		if err != nil {
			return nil, err
		}
		if in.ContainerInstanceArn != nil {
			return s.reregister(sc, cl.Name, ecs.Val(in.ContainerInstanceArn), doc, attrs, resources, in, &result)
		}
		now := s.now().UTC()
		id := newInstanceID()
		r := &instanceRecord{
			Schema:              instanceSchema,
			ARN:                 sc.arn("container-instance/" + cl.Name + "/" + id),
			ID:                  id,
			Cluster:             cl.Name,
			Status:              statusActive,
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
			CapacityProviderName: attributeValue(attrs, capacityProviderAttribute),
			Tags:                 in.Tags,
		}
		result = r
		// A fresh key: Create's guard makes a clashing id retry with another.
		// The cluster is written back unchanged so that a DeleteCluster
		// racing with this registration conflicts instead of deleting a
		// cluster that has just gained an instance.
		return []store.Op{
			store.Create(sc.key(kindInstance, cl.Name, id), r),
			store.Put(co.Key, cl, co.Rev),
		}, nil
	})
	if err != nil {
		return nil, err
	}
	v := s.instanceView(sc, result, nil)
	return &ecs.RegisterContainerInstanceResponse{ContainerInstance: &v}, nil
}

// reregister updates the instance that a registration names by ARN, as the
// agent does on every start: resources, agent attributes and versions are
// refreshed, the id is kept. As in ECS, custom attributes only take effect
// on the first registration; later ones keep those the instance has.
// ECS does not match registrations by EC2 instance id: without an ARN, a
// registration always makes a new container instance.
func (s *Server) reregister(sc scope, cluster, ref string, doc identityDocument, attrs []ecs.Attribute, resources []ecs.Resource,
	in *ecs.RegisterContainerInstanceRequest, result **instanceRecord) ([]store.Op, error) {
	id, _ := instanceIDFrom(sc, cluster, ref)
	o, _, err := s.findInstance(sc, cluster, ref)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, ecs.NewClientException("Referenced container instance %s not registered.", orRef(id, ref))
	}
	r, err := decodeCopy[instanceRecord](s, o)
	if err != nil {
		return nil, err
	}
	if r.Status == statusInactive {
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
	r.RegisteredResources = resources
	r.RemainingResources = resources // TODO(tasks): less what the instance's tasks hold
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

func orRef(id, ref string) string {
	if id != "" {
		return id
	}
	return ref
}

// withStandardResources completes totalResources with the four that every
// EC2 container instance reports (CPU, MEMORY, PORTS, PORTS_UDP), so that
// a registration without them still describes, and places, like one.
func withStandardResources(rs []ecs.Resource) []ecs.Resource {
	out := append([]ecs.Resource(nil), rs...)
	has := map[string]bool{}
	for _, r := range rs {
		has[ecs.Val(r.Name)] = true
	}
	for _, name := range []string{"CPU", "MEMORY"} {
		if !has[name] {
			out = append(out, ecs.Resource{Name: ecs.Ptr(name), Type: ecs.Ptr("INTEGER"), IntegerValue: ecs.Ptr(int32(0))})
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
	_, cl, err := s.activeCluster(sc, in.Cluster)
	if err != nil {
		return nil, err
	}
	include := map[ecs.ContainerInstanceField]bool{}
	for _, f := range in.Include {
		include[f] = true
	}
	out := &ecs.DescribeContainerInstancesResponse{ContainerInstances: []ecs.ContainerInstance{}, Failures: []ecs.Failure{}}
	for _, ref := range in.ContainerInstances {
		_, r, err := s.findInstance(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if r == nil {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(instanceARNFor(sc, cl.Name, ref)), Reason: ecs.Ptr("MISSING")})
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
	_, cl, err := s.activeCluster(sc, in.Cluster)
	if err != nil {
		return nil, err
	}
	var filter query.Expr
	if f := ecs.Val(in.Filter); f != "" {
		if filter, err = parseFilter(f); err != nil {
			return nil, err
		}
	}
	p, err := s.listPage(sc.prefix(kindInstance)+cl.Name+"/", in.NextToken, in.MaxResults, 100, func(o *store.Object) bool {
		r, err := decode[instanceRecord](s, o)
		if err != nil {
			return false
		}
		if in.Status != "" && r.Status != string(in.Status) || in.Status == "" && r.Status == statusInactive {
			return false
		}
		return filter == nil || filter.Match(queryInstance{s: s, sc: sc, r: r})
	})
	if err != nil {
		return nil, err
	}
	out := &ecs.ListContainerInstancesResponse{ContainerInstanceArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		r, err := decode[instanceRecord](s, o)
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
	var result *instanceRecord
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.activeCluster(sc, in.Cluster)
		if err != nil {
			return nil, err
		}
		o, _, err := s.findInstance(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if o == nil {
			id, _ := instanceIDFrom(sc, cl.Name, ref)
			return nil, ecs.NewClientException("Referenced container instance %s not found.", orRef(id, ref))
		}
		r, err := decodeCopy[instanceRecord](s, o)
		if err != nil {
			return nil, err
		}
		result = r
		if r.Status == statusInactive {
			return nil, nil // already deregistered: nothing to change
		}
		// TODO(tasks): with force, orphan the instance's tasks.
		if !ecs.Val(in.Force) && s.instanceTaskCount(sc, r, "RUNNING")+s.instanceTaskCount(sc, r, "PENDING") > 0 {
			return nil, ecs.NewInvalidParameterException("The specified container instance has tasks. Stop them first, or deregister it with force.")
		}
		now := s.now().UTC()
		r.Status = statusInactive
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
	if status != statusActive && status != statusDraining {
		return nil, ecs.NewInvalidParameterException("Container instances can only be set to ACTIVE or DRAINING; %s is not allowed.", status)
	}
	if len(in.ContainerInstances) > 10 {
		return nil, ecs.NewInvalidParameterException("instanceIds can have at most 10 items.")
	}
	var out *ecs.UpdateContainerInstancesStateResponse
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.activeCluster(sc, in.Cluster)
		if err != nil {
			return nil, err
		}
		out = &ecs.UpdateContainerInstancesStateResponse{ContainerInstances: []ecs.ContainerInstance{}, Failures: []ecs.Failure{}}
		var ops []store.Op
		seen := map[string]bool{}
		for _, ref := range in.ContainerInstances {
			o, _, err := s.findInstance(sc, cl.Name, ref)
			if err != nil {
				return nil, err
			}
			if o == nil {
				out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(instanceARNFor(sc, cl.Name, ref)), Reason: ecs.Ptr("MISSING")})
				continue
			}
			if seen[o.Key] {
				continue // named twice: one change, one answer
			}
			seen[o.Key] = true
			r, err := decodeCopy[instanceRecord](s, o)
			if err != nil {
				return nil, err
			}
			if r.Status == statusInactive {
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
func (s *Server) instanceView(sc scope, r *instanceRecord, include map[ecs.ContainerInstanceField]bool) ecs.ContainerInstance {
	vi := r.VersionInfo
	out := ecs.ContainerInstance{
		ContainerInstanceArn: ecs.Ptr(r.ARN),
		Version:              ecs.Ptr(r.Version),
		VersionInfo:          &vi,
		RegisteredResources:  orEmpty(r.RegisteredResources),
		RemainingResources:   orEmpty(r.RemainingResources),
		Status:               ecs.Ptr(r.Status),
		AgentConnected:       ecs.Ptr(r.AgentConnected),
		RunningTasksCount:    ecs.Ptr(int32(s.instanceTaskCount(sc, r, "RUNNING"))),
		PendingTasksCount:    ecs.Ptr(int32(s.instanceTaskCount(sc, r, "PENDING"))),
		AgentUpdateStatus:    r.AgentUpdateStatus,
		Attributes:           orEmpty(r.Attributes),
		RegisteredAt:         ecs.NewTimestamp(r.RegisteredAt),
		Attachments:          orEmpty(r.Attachments),
		Tags:                 []ecs.Tag{},
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
		out.Tags = orEmpty(r.Tags)
	}
	if include[ecs.ContainerInstanceFieldContainerInstanceHealth] && r.Health != nil {
		out.HealthStatus = r.Health
	}
	return out
}
