package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// taskLaunch is a validated RunTask or StartTask: everything but where the
// tasks go.
type taskLaunch struct {
	cluster    *clusterRecord
	def        *ecs.TaskDefinition
	tags       []ecs.Tag
	overrides  *ecs.TaskOverride
	launchType string
	startedBy  string
	group      string
	execCmd    bool
	needs      taskNeeds
}

func newHexID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// prepareLaunch applies the checks RunTask and StartTask share, in ECS's order.
func (s *Server) prepareLaunch(sc scope, clusterRef, taskDefRef *string, launchType ecs.LaunchType, strategy []ecs.CapacityProviderStrategyItem,
	netConf *ecs.NetworkConfiguration, ov *ecs.TaskOverride, tags []ecs.Tag, propagate ecs.PropagateTags) (*taskLaunch, error) {
	_, cl, err := s.activeCluster(sc, clusterRef)
	if err != nil {
		return nil, err
	}
	_, td, err := s.findTaskDef(sc, ecs.Val(taskDefRef))
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, ecs.NewClientException("TaskDefinition not found.")
	}
	if td.Status != statusActive {
		return nil, ecs.NewClientException("TaskDefinition is inactive")
	}
	if launchType != "" && len(strategy) > 0 {
		return nil, ecs.NewInvalidParameterException("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	lt := string(launchType)
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
	return &taskLaunch{cluster: cl, def: &td.Definition, tags: tags, overrides: ov, launchType: lt, needs: needsOf(&td.Definition, ov)}, nil
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
func (s *Server) newTask(sc scope, l *taskLaunch, inst *instanceRecord) *taskRecord {
	id := newHexID()
	t := &taskRecord{
		Schema:               taskSchema,
		ARN:                  sc.arn("task/" + l.cluster.Name + "/" + id),
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
		tc := taskContainer{
			Name:       ecs.Val(c.Name),
			ARN:        sc.arn("container/" + l.cluster.Name + "/" + id + "/" + newHexID()),
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

// placedInstance is an instance as placement sees it during one call: its
// remaining resources change as tasks are placed on it.
type placedInstance struct {
	obj     *store.Object
	rec     *instanceRecord
	changed bool
}

// placeTasks puts count tasks of l on the instances that first fit, in key
// order (the placement issue replaces this with ECS's strategies), and
// returns the writes: the new tasks and the instances' reduced resources,
// committed together so that no instance is ever overcommitted.
func (s *Server) placeTasks(sc scope, l *taskLaunch, count int, candidates []*placedInstance) ([]store.Op, []*taskRecord, []ecs.Failure, error) {
	var tasks []*taskRecord
	var failures []ecs.Failure
	reported := map[string]bool{}
	for i := 0; i < count; i++ {
		var chosen *placedInstance
		for _, c := range candidates {
			reason := ""
			if c.rec.Status != statusActive {
				reason = "INACTIVE"
				if c.rec.Status == statusDraining {
					reason = "DRAINING"
				}
			} else {
				reason = shortfall(c.rec.RemainingResources, l.needs)
			}
			if reason == "" {
				chosen = c
				break
			}
			if !reported[c.rec.ARN] {
				reported[c.rec.ARN] = true
				failures = append(failures, ecs.Failure{Arn: ecs.Ptr(c.rec.ARN), Reason: ecs.Ptr(reason)})
			}
		}
		if chosen == nil {
			continue
		}
		if !chosen.changed {
			cp := *chosen.rec // a private copy: the view's record is shared
			chosen.rec = &cp
			chosen.changed = true
		}
		chosen.rec.RemainingResources = adjusted(chosen.rec.RemainingResources, l.needs, 1)
		chosen.rec.Version++
		tasks = append(tasks, s.newTask(sc, l, chosen.rec))
	}
	if len(tasks) < count && len(failures) == 0 {
		failures = append(failures, ecs.Failure{Reason: ecs.Ptr("RESOURCE")})
	}
	var ops []store.Op
	for _, t := range tasks {
		ops = append(ops, store.Create(sc.key(kindTask, t.Cluster, t.ID), t))
	}
	for _, c := range candidates {
		if c.changed {
			ops = append(ops, store.Put(c.obj.Key, c.rec, c.obj.Rev))
		}
	}
	if len(tasks) == 0 {
		ops = nil
	}
	return ops, tasks, failures, nil
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
	var tasks []*taskRecord
	var failures []ecs.Failure
	err = s.update(ctx, func() ([]store.Op, error) {
		var candidates []*placedInstance
		for _, o := range s.store.List(sc.prefix(kindInstance)+l.cluster.Name+"/", "", 0) {
			r, err := decode[instanceRecord](s, o)
			if err != nil {
				return nil, err
			}
			if r.Status != statusInactive {
				candidates = append(candidates, &placedInstance{obj: o, rec: r})
			}
		}
		if len(candidates) == 0 {
			return nil, ecs.NewInvalidParameterException("No Container Instances were found in your cluster.")
		}
		var ops []store.Op
		var err error
		ops, tasks, failures, err = s.placeTasks(sc, l, count, candidates)
		return ops, err
	})
	if err != nil {
		return nil, err
	}
	return launchResponse(tasks, failures), nil
}

func (s *Server) StartTask(ctx context.Context, in *ecs.StartTaskRequest) (*ecs.StartTaskResponse, error) {
	sc := scopeOf(ctx)
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, ecs.NewInvalidParameterException("containerInstances must contain between 1 and 10 items.")
	}
	l, err := s.prepareLaunch(sc, in.Cluster, in.TaskDefinition, "", nil, in.NetworkConfiguration, in.Overrides, in.Tags, in.PropagateTags)
	if err != nil {
		return nil, err
	}
	l.startedBy, l.group, l.execCmd = ecs.Val(in.StartedBy), ecs.Val(in.Group), ecs.Val(in.EnableExecuteCommand)
	if l.group == "" {
		l.group = "family:" + ecs.Val(l.def.Family)
	}
	var tasks []*taskRecord
	var failures []ecs.Failure
	err = s.update(ctx, func() ([]store.Op, error) {
		tasks, failures = nil, nil
		var ops []store.Op
		seen := map[string]bool{}
		for _, ref := range in.ContainerInstances {
			if seen[ref] {
				continue // one task per named instance, however often it is named
			}
			seen[ref] = true
			o, r, err := s.findInstance(sc, l.cluster.Name, ref)
			if err != nil {
				return nil, err
			}
			if r == nil {
				failures = append(failures, ecs.Failure{Arn: ecs.Ptr(instanceARNFor(sc, l.cluster.Name, ref)), Reason: ecs.Ptr("MISSING")})
				continue
			}
			placed, ts, fs, err := s.placeTasks(sc, l, 1, []*placedInstance{{obj: o, rec: r}})
			if err != nil {
				return nil, err
			}
			ops = append(ops, placed...)
			tasks = append(tasks, ts...)
			failures = append(failures, fs...)
		}
		return ops, nil
	})
	if err != nil {
		return nil, err
	}
	out := launchResponse(tasks, failures)
	return &ecs.StartTaskResponse{Tasks: out.Tasks, Failures: out.Failures}, nil
}

func launchResponse(tasks []*taskRecord, failures []ecs.Failure) *ecs.RunTaskResponse {
	out := &ecs.RunTaskResponse{Tasks: []ecs.Task{}, Failures: orEmpty(failures)}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, taskView(t, true))
	}
	return out
}
