package placement

import (
	"encoding/json"
	"strconv"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/state"
)

// demand is what one task of the launch asks of placement.
func (l *Launch) Demand(capacityProvider string) *scheduler.Demand {
	d := &scheduler.Demand{
		CPU: l.Needs.CPU, Memory: l.Needs.Memory, Ports: l.Needs.Ports, PortsUDP: l.Needs.PortsUDP, GPUs: l.Needs.GPUCount,
		DynamicPorts:     l.Needs.DynamicPorts,
		CapacityProvider: capacityProvider, Group: l.Group, Constraints: l.Constraints, Strategies: l.Strategies,
	}
	for _, a := range l.Def.RequiresAttributes {
		d.Attributes = append(d.Attributes, scheduler.Attribute{Name: ecs.Val(a.Name), Value: ecs.Val(a.Value)})
	}
	return d
}

// split shares count tasks out over the capacity provider strategy in
// force, as ECS does: the base first, to the one provider that has it, and
// the rest by weight. Without a strategy, one part with the launch type;
// the FARGATE launch type runs on the instances designated for FARGATE.
// prepareLaunch has made sure some provider has a weight.
func (l *Launch) Split(count int) []Part {
	if len(l.Providers) == 0 {
		part := Part{LaunchType: l.LaunchType, Count: count}
		if l.LaunchType == string(ecs.LaunchTypeFargate) {
			part.CapacityProvider = "FARGATE"
		}
		return []Part{part}
	}
	counts := make([]int, len(l.Providers))
	left := count
	for i, it := range l.Providers {
		if b := int(ecs.Val(it.Base)); b > 0 {
			counts[i] = min(b, left)
			left -= counts[i]
		}
	}
	// The rest by weight: each task to the provider furthest below its
	// share (weighted round robin, so 1:3 over 4 tasks gives 1 and 3).
	byWeight := make([]int, len(l.Providers))
	for ; left > 0; left-- {
		best := -1
		for i, it := range l.Providers {
			w := int(ecs.Val(it.Weight))
			if w == 0 {
				continue
			}
			// Compare (byWeight[i]+1)/w across providers without division.
			if best < 0 || (byWeight[i]+1)*int(ecs.Val(l.Providers[best].Weight)) < (byWeight[best]+1)*w {
				best = i
			}
		}
		byWeight[best]++
	}
	var parts []Part
	for i, it := range l.Providers {
		if n := counts[i] + byWeight[i]; n > 0 {
			name := ecs.Val(it.CapacityProvider)
			lt := string(ecs.LaunchTypeEc2)
			if state.IsBuiltInProvider(name) {
				lt = string(ecs.LaunchTypeFargate)
			}
			parts = append(parts, Part{CapacityProvider: name, LaunchType: lt, Count: n})
		}
	}
	return parts
}

// launchPart is a share of a RunTask's tasks: on one capacity provider, or
// with a launch type.
type Part struct {
	CapacityProvider string // "" for a launch type
	LaunchType       string
	Count            int
}

// signature identifies the kind of task a part asks for.
func (l *Launch) signature(part Part) string {
	b, _ := json.Marshal([]any{ecs.Val(l.Def.TaskDefinitionArn), l.Overrides, l.Group, l.GivenRules, part.CapacityProvider, part.LaunchType, l.Network})
	return string(b)
}

// taskLaunch is a validated RunTask or StartTask: everything but where the
// tasks go.
type Launch struct {
	Cluster    *state.Cluster
	Def        *ecs.TaskDefinition
	Tags       []ecs.Tag
	Overrides  *ecs.TaskOverride
	LaunchType string
	StartedBy  string
	Group      string
	Service    string // the service whose scheduler starts the tasks, if any
	ExecCmd    bool
	Needs      state.Needs
	Network    *ecs.AwsVpcConfiguration // awsvpc: the subnets its tasks take addresses from

	Constraints []scheduler.Constraint
	Strategies  []scheduler.Strategy
	GivenRules  any                                // the call's constraints and strategies, as given
	Providers   []ecs.CapacityProviderStrategyItem // the capacity provider strategy in force, if any
}

// newTask builds the record of a task of l placed on instance.
func (pl *Placer) newTask(sc state.Scope, l *Launch, inst *state.Instance) *state.Task {
	id := state.NewHexID()
	long := pl.state.LongARNFormat(sc, ecs.SettingNameTaskLongArnFormat)
	t := &state.Task{
		Schema:               state.TaskSchema,
		ARN:                  sc.ResourceARN("task", l.Cluster.Name, id, long),
		ID:                   id,
		Cluster:              l.Cluster.Name,
		ClusterARN:           l.Cluster.ARN,
		TaskDefinitionARN:    ecs.Val(l.Def.TaskDefinitionArn),
		Family:               ecs.Val(l.Def.Family),
		Revision:             int(ecs.Val(l.Def.Revision)),
		InstanceID:           inst.ID,
		InstanceARN:          inst.ARN,
		LaunchType:           l.LaunchType,
		DesiredStatus:        "RUNNING",
		LastStatus:           "PENDING", // ECS starts tasks on container instances in PENDING
		Overrides:            l.Overrides,
		StartedBy:            l.StartedBy,
		Group:                l.Group,
		ServiceName:          l.Service,
		Tags:                 l.Tags,
		Cpu:                  strconv.FormatInt(l.Needs.CPU, 10),
		Memory:               strconv.FormatInt(l.Needs.Memory, 10),
		Needs:                l.Needs,
		EnableExecuteCommand: l.ExecCmd,
		AvailabilityZone:     state.AttributeValue(inst.Attributes, "ecs.availability-zone"),
		Version:              1,
		CreatedAt:            pl.now().UTC(),
		HealthStatus:         string(ecs.HealthStatusUnknown),
	}
	if l.Network != nil {
		// Its interface is made before its agent sees it, as on ECS
		// (placer.record gives it its address).
		t.LastStatus = "PROVISIONING"
	}
	for _, c := range l.Def.ContainerDefinitions {
		tc := state.TaskContainer{
			Name:       ecs.Val(c.Name),
			ARN:        sc.ResourceARN("container", l.Cluster.Name, containerID(id, long), long),
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
		tc.GPUCount = state.GPUsOf(c, l.Overrides)
		if c.HealthCheck != nil {
			tc.HealthStatus = string(ecs.HealthStatusUnknown)
		}
		t.Containers = append(t.Containers, tc)
	}
	return t
}

// containerID is a container's part of its ARN: task/container in the long
// format, a bare id in the short one, as ECS formed them.
func containerID(taskID string, long bool) string {
	if long {
		return taskID + "/" + state.NewHexID()
	}
	return state.NewHexID()
}
