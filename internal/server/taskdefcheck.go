package server

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
)

// This file holds ECS's rules for a task definition that the model cannot
// express, and the normal form ECS stores (defaults filled in, task cpu and
// memory as integer strings). It is pure logic: no store, no clock.

// ECS's limits on a task definition.
const (
	maxContainersPerTaskDef = 10
	maxTaskDefBytes         = 65536 // the JSON size of the registration request
	minContainerMemoryMiB   = state.MinContainerMemoryMiB
)

var (
	familyPattern        = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
	containerNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
)

// checkTaskDefinition validates a registration and returns the definition as
// ECS stores it. Messages are ECS's where they are known (see
// docs/compatibility.md for the few that are Berth's own wording).
func checkTaskDefinition(in *ecs.RegisterTaskDefinitionRequest) (*ecs.TaskDefinition, error) {
	family := ecs.Val(in.Family)
	if !familyPattern.MatchString(family) {
		return nil, ecs.NewClientException("Family contains invalid characters or is too long. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, ecs.NewClientException("Container list cannot be empty.")
	}
	if len(in.ContainerDefinitions) > maxContainersPerTaskDef {
		return nil, ecs.NewClientException("Too many containers.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}

	mode := in.NetworkMode
	if mode == "" {
		mode = ecs.NetworkModeBridge
	}
	fargate := hasCompatibility(in.RequiresCompatibilities, ecs.CompatibilityFargate)

	taskCPU, err := parseTaskCPU(in.Cpu)
	if err != nil {
		return nil, err
	}
	taskMemory, err := parseTaskMemory(in.Memory)
	if err != nil {
		return nil, err
	}
	if fargate {
		if err := checkFargate(mode, taskCPU, taskMemory); err != nil {
			return nil, err
		}
	}
	for _, c := range in.RequiresCompatibilities {
		if c == ecs.CompatibilityExternal && mode == ecs.NetworkModeAwsvpc {
			return nil, ecs.NewClientException("Network mode 'awsvpc' is not supported for the EXTERNAL launch type.")
		}
	}

	volumes := map[string]bool{}
	for _, v := range in.Volumes {
		name := ecs.Val(v.Name)
		if name == "" {
			return nil, ecs.NewClientException("Volume name should not be null or empty.")
		}
		if volumes[name] {
			return nil, ecs.NewClientException("Volume name '%s' is used more than once in the task definition.", name)
		}
		volumes[name] = true
	}

	containers := make([]ecs.ContainerDefinition, len(in.ContainerDefinitions))
	names := map[string]ecs.ContainerDefinition{}
	for i, c := range in.ContainerDefinitions {
		name := ecs.Val(c.Name)
		if name == "" {
			return nil, ecs.NewClientException("Container.name should not be null or empty.")
		}
		if !containerNamePattern.MatchString(name) {
			return nil, ecs.NewClientException("Container name '%s' is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", name)
		}
		if _, dup := names[name]; dup {
			return nil, ecs.NewClientException("Container names must be unique within a task definition: '%s' is used more than once.", name)
		}
		if strings.TrimSpace(ecs.Val(c.Image)) == "" {
			return nil, ecs.NewClientException("Container.image should not be null or empty.")
		}
		if len(ecs.Val(c.Image)) > 255 {
			return nil, ecs.NewClientException("Invalid 'image' setting for container '%s'. Up to 255 characters are allowed.", name)
		}
		names[name] = c
		containers[i] = withContainerDefaults(c, mode)
	}

	var essential bool
	var sumCPU, sumReservation int64
	hostPorts := map[string]bool{}
	for _, c := range containers {
		name := ecs.Val(c.Name)
		if ecs.Val(c.Essential) {
			essential = true
		}
		if err := checkContainerMemory(c, taskMemory); err != nil {
			return nil, err
		}
		if err := checkContainerLimits(c); err != nil {
			return nil, err
		}
		sumCPU += int64(ecs.Val(c.Cpu))
		switch {
		case c.MemoryReservation != nil:
			sumReservation += int64(*c.MemoryReservation)
		case c.Memory != nil:
			sumReservation += int64(*c.Memory)
		}
		if err := checkPortMappings(c, mode, hostPorts); err != nil {
			return nil, err
		}
		if mode == ecs.NetworkModeAwsvpc && len(c.Links) > 0 {
			return nil, ecs.NewClientException("Links are not supported when networkMode=awsvpc.")
		}
		for _, m := range c.MountPoints {
			if !volumes[ecs.Val(m.SourceVolume)] {
				return nil, ecs.NewClientException("Invalid 'mountPoints' setting for container '%s'. Volume '%s' is not defined in the task definition.", name, ecs.Val(m.SourceVolume))
			}
		}
		for _, v := range c.VolumesFrom {
			if _, ok := names[ecs.Val(v.SourceContainer)]; !ok {
				return nil, ecs.NewClientException("Invalid 'volumesFrom' setting for container '%s'. Container '%s' is not defined in the task definition.", name, ecs.Val(v.SourceContainer))
			}
		}
		if err := checkDependsOn(c, names); err != nil {
			return nil, err
		}
		if err := checkHealthCheck(c); err != nil {
			return nil, err
		}
		if err := checkLogConfiguration(c); err != nil {
			return nil, err
		}
		if fargate && ecs.Val(c.Privileged) {
			return nil, ecs.NewClientException("Fargate requires that the privileged setting be false at the container level.")
		}
	}
	if !essential {
		return nil, ecs.NewClientException("A task definition must have at least one essential container.")
	}
	if taskCPU > 0 && sumCPU > taskCPU {
		return nil, ecs.NewClientException("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")
	}
	if taskMemory > 0 && sumReservation > taskMemory {
		return nil, ecs.NewClientException("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.")
	}
	if err := checkDependencyCycles(containers); err != nil {
		return nil, err
	}

	td := &ecs.TaskDefinition{
		Family:                  ecs.Ptr(family),
		ContainerDefinitions:    containers,
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		NetworkMode:             mode,
		Volumes:                 in.Volumes,
		PlacementConstraints:    in.PlacementConstraints,
		RequiresCompatibilities: in.RequiresCompatibilities,
		PidMode:                 in.PidMode,
		IpcMode:                 in.IpcMode,
		ProxyConfiguration:      in.ProxyConfiguration,
		InferenceAccelerators:   in.InferenceAccelerators,
		EphemeralStorage:        in.EphemeralStorage,
		RuntimePlatform:         in.RuntimePlatform,
		EnableFaultInjection:    in.EnableFaultInjection,
	}
	if taskCPU > 0 {
		td.Cpu = ecs.Ptr(strconv.FormatInt(taskCPU, 10))
	}
	if taskMemory > 0 {
		td.Memory = ecs.Ptr(strconv.FormatInt(taskMemory, 10))
	}
	td.Compatibilities = compatibilitiesOf(mode, taskCPU, taskMemory)
	td.RequiresAttributes = requiredAttributes(td)
	return td, nil
}

func hasCompatibility(list []ecs.Compatibility, c ecs.Compatibility) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// withContainerDefaults returns c with the defaults ECS reports filled in:
// essential true, cpu 0, and port mappings completed for the network mode
// (the empty lists ECS answers are filled in for every answer: shapes.go).
func withContainerDefaults(c ecs.ContainerDefinition, mode ecs.NetworkMode) ecs.ContainerDefinition {
	if c.Essential == nil {
		c.Essential = ecs.Ptr(true)
	}
	if c.Cpu == nil {
		c.Cpu = ecs.Ptr(int32(0))
	}
	mappings := make([]ecs.PortMapping, len(c.PortMappings))
	for i, pm := range c.PortMappings {
		if pm.Protocol == "" {
			pm.Protocol = ecs.TransportProtocolTcp
		}
		if pm.ContainerPortRange == nil {
			switch {
			case (mode == ecs.NetworkModeAwsvpc || mode == ecs.NetworkModeHost) && ecs.Val(pm.HostPort) == 0:
				// In these modes the host port is the container port; ECS fills it in.
				pm.HostPort = pm.ContainerPort
			case pm.HostPort == nil:
				pm.HostPort = ecs.Ptr(int32(0)) // bridge: a dynamic host port
			}
		}
		mappings[i] = pm
	}
	c.PortMappings = mappings
	return c
}

func checkContainerMemory(c ecs.ContainerDefinition, taskMemory int64) error {
	name := ecs.Val(c.Name)
	if c.Memory == nil && c.MemoryReservation == nil && taskMemory == 0 {
		return ecs.NewClientException("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", name)
	}
	if c.Memory != nil && *c.Memory < minContainerMemoryMiB {
		return ecs.NewClientException("Invalid 'memory' setting for container '%s'. The minimum is %d MiB.", name, minContainerMemoryMiB)
	}
	if c.MemoryReservation != nil && *c.MemoryReservation < minContainerMemoryMiB {
		return ecs.NewClientException("Invalid 'memoryReservation' setting for container '%s'. The minimum is %d MiB.", name, minContainerMemoryMiB)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
		return ecs.NewClientException("Invalid 'memory' setting for container '%s'. 'memory' must be greater than or equal to 'memoryReservation'.", name)
	}
	if c.Memory != nil && taskMemory > 0 && int64(*c.Memory) > taskMemory {
		return ecs.NewClientException("The 'memory' setting for container '%s' is greater than for the task.", name)
	}
	return nil
}

// checkPortMappings applies the rules of port mappings for a network mode;
// hostPorts collects the static host ports of the whole task ("tcp/80").
// checkContainerLimits refuses a negative container cpu, which would give
// an instance resources back when a task is placed, and negative ulimits
// other than -1, which is Docker's (and ECS users') "unlimited", as for
// memlock. ECS's messages for these are not documented; the wording is Berth's, in
// the form of ECS's other container settings.
func checkContainerLimits(c ecs.ContainerDefinition) error {
	name := ecs.Val(c.Name)
	if ecs.Val(c.Cpu) < 0 {
		return ecs.NewClientException("Invalid 'cpu' setting for container '%s'. The value must not be negative.", name)
	}
	for _, u := range c.Ulimits {
		if ecs.Val(u.SoftLimit) < -1 || ecs.Val(u.HardLimit) < -1 {
			return ecs.NewClientException("Invalid 'ulimits' setting for container '%s'. The limits of '%s' must be -1 (unlimited) or more.", name, u.Name)
		}
	}
	return nil
}

func checkPortMappings(c ecs.ContainerDefinition, mode ecs.NetworkMode, hostPorts map[string]bool) error {
	name := ecs.Val(c.Name)
	if mode == ecs.NetworkModeNone && len(c.PortMappings) > 0 {
		return ecs.NewClientException("Port mappings are not supported when networkMode=none.")
	}
	for _, pm := range c.PortMappings {
		if pm.ContainerPortRange != nil {
			if pm.ContainerPort != nil || pm.HostPort != nil && *pm.HostPort != 0 {
				return ecs.NewClientException("Invalid 'containerPortRange' setting for container '%s'. A port mapping with a containerPortRange cannot have a containerPort or hostPort.", name)
			}
			if !validPortRange(*pm.ContainerPortRange) {
				return ecs.NewClientException("Invalid 'containerPortRange' setting for container '%s'.", name)
			}
			continue
		}
		cp := ecs.Val(pm.ContainerPort)
		if cp < 1 || cp > 65535 {
			return ecs.NewClientException("Invalid 'containerPort' setting for container '%s'.", name)
		}
		hp := ecs.Val(pm.HostPort)
		if hp < 0 || hp > 65535 {
			return ecs.NewClientException("Invalid 'hostPort' setting for container '%s'.", name)
		}
		if (mode == ecs.NetworkModeAwsvpc || mode == ecs.NetworkModeHost) && hp != cp {
			return ecs.NewClientException("When networkMode=%s, the host ports and container ports in port mappings must match.", string(mode))
		}
		if hp != 0 {
			key := string(pm.Protocol) + "/" + strconv.Itoa(int(hp))
			if hostPorts[key] {
				return ecs.NewClientException("%s host port '%d' is mapped multiple times in task.", strings.ToUpper(string(pm.Protocol)), hp)
			}
			hostPorts[key] = true
		}
	}
	return nil
}

// validPortRange accepts "from-to" with 1 <= from < to <= 65535.
func validPortRange(r string) bool {
	lo, hi, ok := strings.Cut(r, "-")
	if !ok {
		return false
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	return err1 == nil && err2 == nil && a >= 1 && a < b && b <= 65535
}

func checkDependsOn(c ecs.ContainerDefinition, names map[string]ecs.ContainerDefinition) error {
	name := ecs.Val(c.Name)
	for _, d := range c.DependsOn {
		dep := ecs.Val(d.ContainerName)
		target, ok := names[dep]
		if !ok {
			return ecs.NewClientException("Invalid 'dependsOn' setting for container '%s'. Container '%s' is not defined in the task definition.", name, dep)
		}
		if dep == name {
			return ecs.NewClientException("Invalid 'dependsOn' setting for container '%s'. A container cannot depend on itself.", name)
		}
		essential := target.Essential == nil || *target.Essential
		if (d.Condition == ecs.ContainerConditionSuccess || d.Condition == ecs.ContainerConditionComplete) && essential {
			return ecs.NewClientException("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container")
		}
		if d.Condition == ecs.ContainerConditionHealthy && target.HealthCheck == nil {
			return ecs.NewClientException("Invalid 'dependsOn' setting for container '%s'. Container '%s' has no health check, so it can never be HEALTHY.", name, dep)
		}
	}
	return nil
}

// checkDependencyCycles refuses dependsOn chains that loop, which would
// leave every container in the loop waiting forever.
func checkDependencyCycles(containers []ecs.ContainerDefinition) error {
	deps := map[string][]string{}
	for _, c := range containers {
		for _, d := range c.DependsOn {
			deps[ecs.Val(c.Name)] = append(deps[ecs.Val(c.Name)], ecs.Val(d.ContainerName))
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(string) bool
	visit = func(n string) bool {
		switch state[n] {
		case visiting:
			return false
		case done:
			return true
		}
		state[n] = visiting
		for _, d := range deps[n] {
			if !visit(d) {
				return false
			}
		}
		state[n] = done
		return true
	}
	for _, c := range containers {
		if !visit(ecs.Val(c.Name)) {
			return ecs.NewClientException("Invalid 'dependsOn' setting: the container dependencies of the task definition form a cycle.")
		}
	}
	return nil
}

// ECS's bounds on a container health check, in seconds (retries a count).
func checkHealthCheck(c ecs.ContainerDefinition) error {
	h := c.HealthCheck
	if h == nil {
		return nil
	}
	name := ecs.Val(c.Name)
	if len(h.Command) == 0 {
		return ecs.NewClientException("Invalid 'healthCheck' setting for container '%s'. 'command' must be specified.", name)
	}
	bounds := []struct {
		field    string
		v        *int32
		min, max int32
	}{
		{"interval", h.Interval, 5, 300},
		{"timeout", h.Timeout, 2, 120},
		{"retries", h.Retries, 1, 10},
		{"startPeriod", h.StartPeriod, 0, 300},
	}
	for _, b := range bounds {
		if b.v != nil && (*b.v < b.min || *b.v > b.max) {
			return ecs.NewClientException("Invalid 'healthCheck' setting for container '%s'. '%s' must be between %d and %d.", name, b.field, b.min, b.max)
		}
	}
	return nil
}

func checkLogConfiguration(c ecs.ContainerDefinition) error {
	lc := c.LogConfiguration
	if lc == nil || lc.LogDriver != ecs.LogDriverAwslogs {
		return nil
	}
	var missing []string
	for _, opt := range []string{"awslogs-region", "awslogs-group"} {
		if lc.Options[opt] == "" {
			missing = append(missing, opt)
		}
	}
	if len(missing) > 0 {
		return ecs.NewClientException("Log driver awslogs requires options: %s", strings.Join(missing, ", "))
	}
	return nil
}

// parseTaskCPU reads task cpu as CPU units or vCPUs; 0 means unset.
func parseTaskCPU(s *string) (int64, error) {
	v, ok := state.ParseTaskCPU(s)
	if !ok {
		return 0, ecs.NewClientException("Invalid 'cpu' setting for task.")
	}
	return v, nil
}

// parseTaskMemory reads task memory as MiB or GB; 0 means unset.
func parseTaskMemory(s *string) (int64, error) {
	v, ok := state.ParseTaskMemory(s)
	if !ok {
		return 0, ecs.NewClientException("Invalid 'memory' setting for task.")
	}
	return v, nil
}

// fargateMemory lists, for each Fargate task cpu, the memory range in MiB
// and its step, as ECS documents them.
var fargateMemory = map[int64]struct{ min, max, step int64 }{
	256:   {512, 2048, 512},
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

func fargateSizeValid(cpu, memory int64) bool {
	r, ok := fargateMemory[cpu]
	if !ok || memory < r.min || memory > r.max {
		return false
	}
	if cpu == 256 {
		return memory == 512 || memory == 1024 || memory == 2048
	}
	return (memory-r.min)%r.step == 0
}

func checkFargate(mode ecs.NetworkMode, cpu, memory int64) error {
	if mode != ecs.NetworkModeAwsvpc {
		return ecs.NewClientException("Fargate only supports network mode 'awsvpc'.")
	}
	if cpu == 0 {
		return ecs.NewClientException("Fargate requires that 'cpu' be defined at the task level.")
	}
	if memory == 0 {
		return ecs.NewClientException("Fargate requires that 'memory' be defined at the task level.")
	}
	if !fargateSizeValid(cpu, memory) {
		return ecs.NewClientException("No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid values.", cpu, memory)
	}
	return nil
}

// compatibilitiesOf is what ECS computes for a registered definition: EC2
// always, EXTERNAL unless it uses awsvpc, FARGATE when it fits Fargate.
func compatibilitiesOf(mode ecs.NetworkMode, cpu, memory int64) []ecs.Compatibility {
	out := []ecs.Compatibility{ecs.CompatibilityEc2}
	if mode != ecs.NetworkModeAwsvpc {
		out = append(out, ecs.CompatibilityExternal)
	}
	if mode == ecs.NetworkModeAwsvpc && fargateSizeValid(cpu, memory) {
		out = append(out, ecs.CompatibilityFargate)
	}
	return out
}
