package server

import (
	"context"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// clusterTaskCount counts a cluster's tasks whose lastStatus is status.
func (s *Server) clusterTaskCount(sc state.Scope, cluster, status string) int {
	return len(s.state.ClusterTasks(sc, cluster, func(t *state.Task) bool { return t.LastStatus == status }))
}

// clusterActiveTaskCount counts the tasks that keep a cluster from being
// deleted: every task not yet STOPPED.
func (s *Server) clusterActiveTaskCount(sc state.Scope, cluster string) int {
	return len(s.state.ClusterTasks(sc, cluster, func(t *state.Task) bool { return t.LastStatus != "STOPPED" }))
}

// instanceTaskCount counts the tasks on an instance whose lastStatus is status.
func (s *Server) instanceTaskCount(sc state.Scope, r *state.Instance, status string) int {
	n := 0
	for _, t := range s.state.TasksOn(sc, r.Cluster, r.ID) {
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
func taskView(t *state.Task, withTags bool) ecs.Task {
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
		Attributes:           []ecs.Attribute{{Name: ecs.Ptr("ecs.cpu-architecture"), Value: ecs.Ptr("x86_64")}},
	}
	fargateView(t, &out)
	if out.Overrides == nil {
		out.Overrides = &ecs.TaskOverride{} // ECS answers the object; its lists are filled in as []
	}
	if withTags {
		out.Tags = t.Tags
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
			NetworkBindings:   c.NetworkBindings,
			HealthStatus:      ecs.HealthStatus(c.HealthStatus),
			Cpu:               strPtr(c.Cpu),
			Memory:            strPtr(c.Memory),
			MemoryReservation: strPtr(c.MemoryReservation),
			GpuIds:            c.GPUIDs,
		})
	}
	if e := t.ENI; e != nil {
		out.Attachments = []ecs.Attachment{eniAttachment(e)}
		for i := range out.Containers {
			out.Containers[i].NetworkInterfaces = []ecs.NetworkInterface{{AttachmentId: ecs.Ptr(e.AttachmentID), PrivateIpv4Address: ecs.Ptr(e.PrivateIPv4)}}
		}
	}
	return out
}

// eniAttachment is an awsvpc task's interface as ECS shows it, its details
// in ECS's order.
func eniAttachment(e *state.TaskENI) ecs.Attachment {
	detail := func(name, value string) ecs.KeyValuePair {
		return ecs.KeyValuePair{Name: ecs.Ptr(name), Value: ecs.Ptr(value)}
	}
	return ecs.Attachment{Id: ecs.Ptr(e.AttachmentID), Type: ecs.Ptr(state.AttachmentTypeENI), Status: ecs.Ptr(e.Status),
		Details: []ecs.KeyValuePair{
			detail("subnetId", e.SubnetID),
			detail("networkInterfaceId", e.ID),
			detail("macAddress", e.MAC),
			detail("privateDnsName", e.PrivateDNSName),
			detail("privateIPv4Address", e.PrivateIPv4),
		}}
}

func (s *Server) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksRequest) (*ecs.DescribeTasksResponse, error) {
	sc := scopeOf(ctx)
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
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
		_, t, err := s.state.Task(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if t == nil {
			arn := ref
			if !state.IsARN(ref) {
				arn = sc.ARN("task/" + cl.Name + "/" + ref)
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
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	desired := string(in.DesiredStatus)
	if desired == "" {
		desired = "RUNNING" // ECS lists the tasks meant to run unless asked otherwise
	}
	instanceID := ""
	if in.ContainerInstance != nil {
		id, ok := state.InstanceIDFrom(sc, cl.Name, *in.ContainerInstance)
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
		t, err := decode[state.Task](s, o)
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
	p, err := s.listPage(sc.Prefix(state.KindTask)+cl.Name+"/", in.NextToken, in.MaxResults, 100, keep)
	if err != nil {
		return nil, err
	}
	out := &ecs.ListTasksResponse{TaskArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		t, err := decode[state.Task](s, o)
		if err != nil {
			return nil, err
		}
		out.TaskArns = append(out.TaskArns, t.ARN)
	}
	return out, nil
}
