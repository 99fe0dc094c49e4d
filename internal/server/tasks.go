package server

import (
	"context"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// taskRecord is a task as stored: what was asked for (definition,
// overrides, desired status) and what its agent last reported (last status,
// containers, timestamps). Key: tasks/<account>/<region>/<cluster>/<id>.
type taskRecord struct {
	Schema               int               `json:"schema"`
	ARN                  string            `json:"arn"`
	ID                   string            `json:"id"`
	Cluster              string            `json:"cluster"`
	ClusterARN           string            `json:"clusterArn"`
	TaskDefinitionARN    string            `json:"taskDefinitionArn"`
	Family               string            `json:"family"`
	Revision             int               `json:"revision"`
	InstanceID           string            `json:"instanceId"`
	InstanceARN          string            `json:"instanceArn"`
	LaunchType           string            `json:"launchType"`
	CapacityProviderName string            `json:"capacityProviderName,omitempty"`
	DesiredStatus        string            `json:"desiredStatus"`
	LastStatus           string            `json:"lastStatus"`
	Overrides            *ecs.TaskOverride `json:"overrides,omitempty"`
	StartedBy            string            `json:"startedBy,omitempty"`
	Group                string            `json:"group,omitempty"`
	ServiceName          string            `json:"serviceName,omitempty"`
	ServiceSeen          bool              `json:"serviceSeen,omitempty"` // STOPPED, and its service's scheduler has counted it
	Tags                 []ecs.Tag         `json:"tags,omitempty"`
	Cpu                  string            `json:"cpu,omitempty"`
	Memory               string            `json:"memory,omitempty"`
	Needs                taskNeeds         `json:"needs"`    // reserved on the instance until STOPPED
	Released             bool              `json:"released"` // the needs have been given back
	EnableExecuteCommand bool              `json:"enableExecuteCommand,omitempty"`
	AvailabilityZone     string            `json:"availabilityZone,omitempty"`
	Version              int64             `json:"version"`
	CreatedAt            time.Time         `json:"createdAt"`
	PullStartedAt        *time.Time        `json:"pullStartedAt,omitempty"`
	PullStoppedAt        *time.Time        `json:"pullStoppedAt,omitempty"`
	StartedAt            *time.Time        `json:"startedAt,omitempty"`
	StoppingAt           *time.Time        `json:"stoppingAt,omitempty"`
	ExecutionStoppedAt   *time.Time        `json:"executionStoppedAt,omitempty"`
	StoppedAt            *time.Time        `json:"stoppedAt,omitempty"`
	StopCode             string            `json:"stopCode,omitempty"`
	StoppedReason        string            `json:"stoppedReason,omitempty"`
	HealthStatus         string            `json:"healthStatus,omitempty"`
	Containers           []taskContainer   `json:"containers"`
}

// taskContainer is one container of a task, as its agent reports it.
type taskContainer struct {
	Name              string               `json:"name"`
	ARN               string               `json:"arn"`
	Image             string               `json:"image"`
	RuntimeID         string               `json:"runtimeId,omitempty"`
	LastStatus        string               `json:"lastStatus"`
	ExitCode          *int32               `json:"exitCode,omitempty"`
	Reason            string               `json:"reason,omitempty"`
	NetworkBindings   []ecs.NetworkBinding `json:"networkBindings,omitempty"`
	HealthStatus      string               `json:"healthStatus,omitempty"`
	Essential         bool                 `json:"essential"`
	Cpu               string               `json:"cpu,omitempty"`
	Memory            string               `json:"memory,omitempty"`
	MemoryReservation string               `json:"memoryReservation,omitempty"`
	GPUCount          int                  `json:"gpuCount,omitempty"` // GPUs its resourceRequirements ask for
	GPUIDs            []string             `json:"gpuIds,omitempty"`   // the ones placement gave it
}

// assignGPUs hands the GPU ids placement gave the task to its containers,
// each taking as many as it asked for, in order.
func (t *taskRecord) assignGPUs(ids []string) {
	t.Needs.GPUs = ids
	for i := range t.Containers {
		n := min(t.Containers[i].GPUCount, len(ids))
		t.Containers[i].GPUIDs, ids = ids[:n:n], ids[n:]
	}
}

const taskSchema = 1

// The task statuses in lifecycle order; a task's lastStatus only moves forward.
var taskStatusOrder = map[string]int{
	"PROVISIONING": 1, "PENDING": 2, "ACTIVATING": 3, "RUNNING": 4,
	"DEACTIVATING": 5, "STOPPING": 6, "DEPROVISIONING": 7, "STOPPED": 8,
}

// taskIDFrom returns the id of the task a reference (an id, or an ARN in
// the long cluster/id or the old short format) names in cluster.
func taskIDFrom(sc scope, cluster, ref string) (string, bool) {
	if !isARN(ref) {
		return ref, ref != "" && !strings.Contains(ref, "/")
	}
	a, ok := parseARN(ref)
	if !ok || a.kind != "task" || !a.inScope(sc) {
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

// findTask looks a task up in a cluster; a nil record means none.
func (s *Server) findTask(sc scope, cluster, ref string) (*store.Object, *taskRecord, error) {
	id, ok := taskIDFrom(sc, cluster, ref)
	if !ok {
		return nil, nil, nil
	}
	o, found := s.store.Get(sc.key(kindTask, cluster, id))
	if !found {
		return nil, nil, nil
	}
	t, err := decode[taskRecord](s, o)
	return o, t, err
}

// clusterTasks lists the tasks of a cluster that keep accepts (nil: all).
func (s *Server) clusterTasks(sc scope, cluster string, keep func(*taskRecord) bool) []*taskRecord {
	var out []*taskRecord
	for _, o := range s.store.List(sc.prefix(kindTask)+cluster+"/", "", 0) {
		t, err := decode[taskRecord](s, o)
		if err == nil && (keep == nil || keep(t)) {
			out = append(out, t)
		}
	}
	return out
}

// clusterTaskCount counts a cluster's tasks whose lastStatus is status.
func (s *Server) clusterTaskCount(sc scope, cluster, status string) int {
	return len(s.clusterTasks(sc, cluster, func(t *taskRecord) bool { return t.LastStatus == status }))
}

// clusterActiveTaskCount counts the tasks that keep a cluster from being
// deleted: every task not yet STOPPED.
func (s *Server) clusterActiveTaskCount(sc scope, cluster string) int {
	return len(s.clusterTasks(sc, cluster, func(t *taskRecord) bool { return t.LastStatus != "STOPPED" }))
}

// instanceTaskCount counts the tasks on an instance whose lastStatus is status.
func (s *Server) instanceTaskCount(sc scope, r *instanceRecord, status string) int {
	n := 0
	for _, t := range s.tasksOn(sc, r.Cluster, r.ID) {
		if t.LastStatus == status {
			n++
		}
	}
	return n
}

func timestampOf(t *time.Time) *ecs.Timestamp {
	if t == nil {
		return nil
	}
	return ecs.NewTimestamp(*t)
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// taskView is the task as DescribeTasks and RunTask show it.
func taskView(t *taskRecord, withTags bool) ecs.Task {
	out := ecs.Task{
		TaskArn:              ecs.Ptr(t.ARN),
		ClusterArn:           ecs.Ptr(t.ClusterARN),
		TaskDefinitionArn:    ecs.Ptr(t.TaskDefinitionARN),
		ContainerInstanceArn: strPtr(t.InstanceARN),
		LaunchType:           ecs.LaunchType(t.LaunchType),
		CapacityProviderName: strPtr(t.CapacityProviderName),
		DesiredStatus:        ecs.Ptr(t.DesiredStatus),
		LastStatus:           ecs.Ptr(t.LastStatus),
		Overrides:            t.Overrides,
		StartedBy:            strPtr(t.StartedBy),
		Group:                strPtr(t.Group),
		Cpu:                  strPtr(t.Cpu),
		Memory:               strPtr(t.Memory),
		EnableExecuteCommand: ecs.Ptr(t.EnableExecuteCommand),
		AvailabilityZone:     strPtr(t.AvailabilityZone),
		Version:              ecs.Ptr(t.Version),
		CreatedAt:            ecs.NewTimestamp(t.CreatedAt),
		PullStartedAt:        timestampOf(t.PullStartedAt),
		PullStoppedAt:        timestampOf(t.PullStoppedAt),
		StartedAt:            timestampOf(t.StartedAt),
		StoppingAt:           timestampOf(t.StoppingAt),
		ExecutionStoppedAt:   timestampOf(t.ExecutionStoppedAt),
		StoppedAt:            timestampOf(t.StoppedAt),
		StopCode:             ecs.TaskStopCode(t.StopCode),
		StoppedReason:        strPtr(t.StoppedReason),
		HealthStatus:         ecs.HealthStatus(t.HealthStatus),
		Attachments:          []ecs.Attachment{},
		Attributes:           []ecs.Attribute{{Name: ecs.Ptr("ecs.cpu-architecture"), Value: ecs.Ptr("x86_64")}},
		Containers:           []ecs.Container{},
		Tags:                 []ecs.Tag{},
	}
	if out.Overrides == nil {
		out.Overrides = &ecs.TaskOverride{ContainerOverrides: []ecs.ContainerOverride{}, InferenceAcceleratorOverrides: []ecs.InferenceAcceleratorOverride{}}
	}
	if withTags {
		out.Tags = orEmpty(t.Tags)
	}
	for _, c := range t.Containers {
		out.Containers = append(out.Containers, ecs.Container{
			ContainerArn:      ecs.Ptr(c.ARN),
			TaskArn:           ecs.Ptr(t.ARN),
			Name:              ecs.Ptr(c.Name),
			Image:             ecs.Ptr(c.Image),
			RuntimeId:         strPtr(c.RuntimeID),
			LastStatus:        ecs.Ptr(c.LastStatus),
			ExitCode:          c.ExitCode,
			Reason:            strPtr(c.Reason),
			NetworkBindings:   orEmpty(c.NetworkBindings),
			NetworkInterfaces: []ecs.NetworkInterface{},
			HealthStatus:      ecs.HealthStatus(c.HealthStatus),
			Cpu:               strPtr(c.Cpu),
			Memory:            strPtr(c.Memory),
			MemoryReservation: strPtr(c.MemoryReservation),
			GpuIds:            c.GPUIDs,
		})
	}
	return out
}

func (s *Server) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksRequest) (*ecs.DescribeTasksResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.activeCluster(sc, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) > 100 {
		return nil, ecs.NewInvalidParameterException("taskIds can have at most 100 items.")
	}
	withTags := false
	for _, f := range in.Include {
		withTags = withTags || f == ecs.TaskFieldTags
	}
	out := &ecs.DescribeTasksResponse{Tasks: []ecs.Task{}, Failures: []ecs.Failure{}}
	for _, ref := range in.Tasks {
		_, t, err := s.findTask(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if t == nil {
			arn := ref
			if !isARN(ref) {
				arn = sc.arn("task/" + cl.Name + "/" + ref)
			}
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(arn), Reason: ecs.Ptr("MISSING")})
			continue
		}
		out.Tasks = append(out.Tasks, taskView(t, withTags))
	}
	return out, nil
}

func (s *Server) ListTasks(ctx context.Context, in *ecs.ListTasksRequest) (*ecs.ListTasksResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.activeCluster(sc, in.Cluster)
	if err != nil {
		return nil, err
	}
	desired := string(in.DesiredStatus)
	if desired == "" {
		desired = "RUNNING" // ECS lists the tasks meant to run unless asked otherwise
	}
	instanceID := ""
	if in.ContainerInstance != nil {
		id, ok := instanceIDFrom(sc, cl.Name, *in.ContainerInstance)
		if !ok {
			return nil, ecs.NewInvalidParameterException("Invalid containerInstance: %s", *in.ContainerInstance)
		}
		instanceID = id
	}
	family := ecs.Val(in.Family)
	if i := strings.LastIndex(family, ":"); i >= 0 {
		family = family[:i]
	}
	keep := func(o *store.Object) bool {
		t, err := decode[taskRecord](s, o)
		switch {
		case err != nil, t.DesiredStatus != desired:
			return false
		case instanceID != "" && t.InstanceID != instanceID:
			return false
		case family != "" && t.Family != family:
			return false
		case in.StartedBy != nil && t.StartedBy != *in.StartedBy:
			return false
		case in.ServiceName != nil && t.ServiceName != *in.ServiceName:
			return false
		case in.LaunchType != "" && t.LaunchType != string(in.LaunchType):
			return false
		}
		return true
	}
	p, err := s.listPage(sc.prefix(kindTask)+cl.Name+"/", in.NextToken, in.MaxResults, 100, keep)
	if err != nil {
		return nil, err
	}
	out := &ecs.ListTasksResponse{TaskArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		t, err := decode[taskRecord](s, o)
		if err != nil {
			return nil, err
		}
		out.TaskArns = append(out.TaskArns, t.ARN)
	}
	return out, nil
}
