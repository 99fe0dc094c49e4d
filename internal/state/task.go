package state

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

func NewHexID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ApplyContainerChange records an agent's report on one container; it
// reports whether anything changed.
func ApplyContainerChange(t *Task, name string, runtimeID, status *string, exitCode *int32, reason *string, bindings []ecs.NetworkBinding) bool {
	for i := range t.Containers {
		c := &t.Containers[i]
		if c.Name != name {
			continue
		}
		changed := false
		if runtimeID != nil && c.RuntimeID != *runtimeID {
			c.RuntimeID, changed = *runtimeID, true
		}
		if st := ecs.Val(status); st != "" && TaskStatusOrder[st] > TaskStatusOrder[c.LastStatus] {
			c.LastStatus, changed = st, true
		}
		if exitCode != nil && c.ExitCode == nil {
			c.ExitCode, changed = exitCode, true
		}
		if r := ecs.Val(reason); r != "" && c.Reason == "" {
			c.Reason, changed = r, true
		}
		if len(bindings) > 0 && len(c.NetworkBindings) == 0 {
			c.NetworkBindings, changed = bindings, true
		}
		return changed
	}
	return false
}

// AdvanceTask moves a task's lastStatus forward to status. On RUNNING it
// records startedAt. On the way down, DEPROVISIONING (an awsvpc task whose
// containers have stopped and whose network has yet to be taken down) and
// STOPPED decide the stop code as ECS does; STOPPED also detaches the
// task's interface and hands its resources back to its instance.
func AdvanceTask(t *Task, status, reason string, now time.Time, ic *InstanceChange) bool {
	if status == "" || TaskStatusOrder[status] <= TaskStatusOrder[t.LastStatus] {
		return false
	}
	wasRunning := t.StartedAt != nil
	t.LastStatus = status
	if status == "RUNNING" && t.StartedAt == nil {
		t.StartedAt = &now
	}
	if status != "STOPPED" && status != "DEPROVISIONING" {
		return true
	}
	if t.ExecutionStoppedAt == nil {
		t.ExecutionStoppedAt = &now
	}
	if t.StoppingAt == nil {
		t.StoppingAt = &now
	}
	t.DesiredStatus = "STOPPED"
	if t.StopCode == "" {
		switch {
		case !wasRunning:
			t.StopCode = string(ecs.TaskStopCodeTaskFailedToStart)
			t.StoppedReason = reason
		default:
			t.StopCode = string(ecs.TaskStopCodeEssentialContainerExited)
			t.StoppedReason = "Essential container in task exited"
		}
		if t.StoppedReason == "" {
			t.StoppedReason = reason
		}
	}
	for i := range t.Containers {
		if t.Containers[i].LastStatus != "STOPPED" {
			t.Containers[i].LastStatus = "STOPPED"
		}
	}
	if status == "DEPROVISIONING" {
		return true
	}
	t.StoppedAt = &now
	if t.ENI != nil {
		t.ENI.Status = AttachmentDetached
	}
	if !t.Released {
		t.Released = true
		ic.Release = &t.Needs
	}
	return true
}

// InstanceChange is what a task change does to the task's instance.
type InstanceChange struct {
	Release *Needs // resources to give back
}

// Live: the task's agent has not reported it STOPPED and nobody asked it to stop.
func (t *Task) Live() bool { return t.LastStatus != "STOPPED" && t.DesiredStatus != "STOPPED" }

func IsPending(status string) bool {
	return status == "PROVISIONING" || status == "PENDING" || status == "ACTIVATING"
}

// Task is a task as stored: what was asked for (definition,
// overrides, desired status) and what its agent last reported (last status,
// containers, timestamps). Key: tasks/<account>/<region>/<cluster>/<id>.
type Task struct {
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
	Platform             *Platform         `json:"platform,omitempty"` // a Fargate task's (launchtypes.go)
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
	Needs                Needs             `json:"needs"`    // reserved on the instance until STOPPED
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
	Containers           []TaskContainer   `json:"containers"`
	ENI                  *TaskENI          `json:"eni,omitempty"` // awsvpc: its network interface
}

// TaskContainer is one container of a task, as its agent reports it.
type TaskContainer struct {
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

// AssignGPUs hands the GPU ids placement gave the task to its containers,
// each taking as many as it asked for, in order.
func (t *Task) AssignGPUs(ids []string) {
	t.Needs.GPUs = ids
	for i := range t.Containers {
		n := min(t.Containers[i].GPUCount, len(ids))
		t.Containers[i].GPUIDs, ids = ids[:n:n], ids[n:]
	}
}

const TaskSchema = 1

// The task statuses in lifecycle order; a task's lastStatus only moves forward.
var TaskStatusOrder = map[string]int{
	"PROVISIONING": 1, "PENDING": 2, "ACTIVATING": 3, "RUNNING": 4,
	"DEACTIVATING": 5, "STOPPING": 6, "DEPROVISIONING": 7, "STOPPED": 8,
}

// Stopped reasons the service scheduler gives, as ECS words them.
const ReasonUnhealthy = "Task failed container health checks"

// TaskFailed: the task stopped without being asked to, or was stopped
// for failing its health checks.
func TaskFailed(t *Task) bool {
	switch ecs.TaskStopCode(t.StopCode) {
	case ecs.TaskStopCodeTaskFailedToStart, ecs.TaskStopCodeEssentialContainerExited:
		return true
	case ecs.TaskStopCodeServiceSchedulerInitiated:
		return t.StoppedReason == ReasonUnhealthy
	}
	return false
}

// TaskHealthy: RUNNING and, when a container has a health check, HEALTHY.
func TaskHealthy(t *Task) bool {
	if t.LastStatus != "RUNNING" {
		return false
	}
	for _, c := range t.Containers {
		if c.HealthStatus != "" {
			return t.HealthStatus == string(ecs.HealthStatusHealthy)
		}
	}
	return true
}

func TaskHealth(t *Task) string {
	checked, healthy := 0, 0
	for _, c := range t.Containers {
		if !c.Essential || c.HealthStatus == "" {
			continue
		}
		checked++
		switch c.HealthStatus {
		case string(ecs.HealthStatusUnhealthy):
			return string(ecs.HealthStatusUnhealthy)
		case string(ecs.HealthStatusHealthy):
			healthy++
		}
	}
	if checked > 0 && healthy == checked {
		return string(ecs.HealthStatusHealthy)
	}
	return string(ecs.HealthStatusUnknown)
}
