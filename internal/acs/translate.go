package acs

import (
	"encoding/json"
	"strconv"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// TaskInput is everything the control plane knows about a task when it
// sends it to an agent.
type TaskInput struct {
	TaskARN, ClusterARN string
	Definition          *ecs.TaskDefinition // as registered (normalised)
	Overrides           *ecs.TaskOverride   // may be nil
	DesiredStatus       string              // RUNNING or STOPPED
	LaunchType          string
	ServiceName, Group  string
	ContainerARNs       map[string]string   // container name -> container ARN
	GPUs                map[string][]string // container name -> the GPU ids placement gave it
	ENI                 *NetworkInterface   // awsvpc: the interface placement made for it
}

// NetworkInterface is an awsvpc task's interface as its agent needs it:
// enough to build a bridge for the subnet's range (from the gateway and
// its prefix length) and hold the task's network at its address and MAC.
type NetworkInterface struct {
	AttachmentARN  string // what the agent reports ATTACHED and DETACHED
	ID             string // eni-...
	MAC            string
	IPv4           string
	Gateway        string // the subnet's router with the range's prefix length, e.g. 10.224.5.1/24
	PrivateDNSName string
}

// Translate is the one place where a task definition and a task's overrides
// become the task an agent runs (docs/agent-protocol.md describes the
// shape). Overrides are applied here, as ECS applies them, so agents never
// see them separately except as the informational overrides string.
func Translate(in TaskInput) (*acsmsg.Task, error) {
	td := in.Definition
	overrides := map[string]ecs.ContainerOverride{}
	if in.Overrides != nil {
		for _, co := range in.Overrides.ContainerOverrides {
			if !definesContainer(td, ecs.Val(co.Name)) {
				return nil, ecs.NewInvalidParameterException("Override for container named %s is not a container in the TaskDefinition.", ecs.Val(co.Name))
			}
			overrides[ecs.Val(co.Name)] = co
		}
	}
	ovJSON := "{}"
	if in.Overrides != nil {
		raw, err := json.Marshal(in.Overrides)
		if err != nil {
			return nil, err
		}
		ovJSON = string(raw)
	}
	t := &acsmsg.Task{
		Arn:            ecs.Ptr(in.TaskARN),
		TaskClusterArn: ecs.Ptr(in.ClusterARN),
		Family:         td.Family,
		Version:        ecs.Ptr(strconv.Itoa(int(ecs.Val(td.Revision)))),
		DesiredStatus:  ecs.Ptr(in.DesiredStatus),
		Overrides:      ecs.Ptr(ovJSON),
		NetworkMode:    strOrNil(string(td.NetworkMode)),
		PidMode:        strOrNil(string(td.PidMode)),
		IpcMode:        strOrNil(string(td.IpcMode)),
		LaunchType:     strOrNil(in.LaunchType),
		ServiceName:    strOrNil(in.ServiceName),
		Group:          strOrNil(in.Group),
	}
	if e := in.ENI; e != nil {
		// One interface, the task's primary (index 0); no DNS servers, so
		// the agent keeps Docker's resolver.
		t.ElasticNetworkInterfaces = []acsmsg.ElasticNetworkInterface{{
			AttachmentArn: ecs.Ptr(e.AttachmentARN), Ec2Id: ecs.Ptr(e.ID), MacAddress: ecs.Ptr(e.MAC), Index: ecs.Ptr(int32(0)),
			InterfaceAssociationProtocol: acsmsg.NetworkInterfaceAssociationProtocolDefault,
			Ipv4Addresses:                []acsmsg.IPv4AddressAssignment{{Primary: ecs.Ptr(true), PrivateAddress: ecs.Ptr(e.IPv4)}},
			SubnetGatewayIpv4Address:     ecs.Ptr(e.Gateway),
			PrivateDnsName:               ecs.Ptr(e.PrivateDNSName),
		}}
	}
	cpu, memory := td.Cpu, td.Memory
	if in.Overrides != nil && in.Overrides.Cpu != nil {
		cpu = in.Overrides.Cpu
	}
	if in.Overrides != nil && in.Overrides.Memory != nil {
		memory = in.Overrides.Memory
	}
	if v, err := strconv.ParseFloat(ecs.Val(cpu), 64); err == nil && v > 0 {
		t.Cpu = ecs.Ptr(v / 1024)
	}
	if v, err := strconv.Atoi(ecs.Val(memory)); err == nil && v > 0 {
		t.Memory = ecs.Ptr(int32(v))
	}
	for _, v := range td.Volumes {
		t.Volumes = append(t.Volumes, volume(v))
	}
	for _, c := range td.ContainerDefinitions {
		ac, err := container(c, overrides[ecs.Val(c.Name)], in.ContainerARNs[ecs.Val(c.Name)])
		if err != nil {
			return nil, err
		}
		t.Containers = append(t.Containers, ac)
		// GPUs travel as associations, one per GPU, naming its container.
		for _, id := range in.GPUs[ecs.Val(c.Name)] {
			t.Associations = append(t.Associations, acsmsg.Association{
				Type: acsmsg.AssociationTypeGpu, Name: ecs.Ptr(id), Containers: []string{ecs.Val(c.Name)},
				Content: &acsmsg.EncodedString{Encoding: acsmsg.EncodingIdentity, Value: ecs.Ptr("")},
			})
		}
	}
	return t, nil
}

func definesContainer(td *ecs.TaskDefinition, name string) bool {
	for _, c := range td.ContainerDefinitions {
		if ecs.Val(c.Name) == name {
			return true
		}
	}
	return false
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// convert copies between a public shape and the agent's shape of the same
// thing: they share JSON names, and members one side lacks are dropped.
func convert[T any](src any) T {
	var dst T
	raw, err := json.Marshal(src)
	if err == nil {
		_ = json.Unmarshal(raw, &dst)
	}
	return dst
}

func volume(v ecs.Volume) acsmsg.Volume {
	out := acsmsg.Volume{Name: v.Name}
	switch {
	case v.DockerVolumeConfiguration != nil:
		out.Type = "docker"
		dvc := convert[acsmsg.DockerVolumeConfiguration](v.DockerVolumeConfiguration)
		out.DockerVolumeConfiguration = &dvc
	case v.EfsVolumeConfiguration != nil:
		out.Type = "efs"
		efs := convert[acsmsg.EFSVolumeConfiguration](v.EfsVolumeConfiguration)
		out.EfsVolumeConfiguration = &efs
	default:
		// A host path, or none: an empty volume that lives as long as the task.
		out.Type = "host"
		out.Host = &acsmsg.HostVolumeProperties{}
		if v.Host != nil {
			out.Host.SourcePath = v.Host.SourcePath
		}
	}
	return out
}

func container(c ecs.ContainerDefinition, ov ecs.ContainerOverride, arn string) (acsmsg.Container, error) {
	out := acsmsg.Container{
		Name:         c.Name,
		Image:        c.Image,
		ContainerArn: strOrNil(arn),
		Cpu:          c.Cpu,
		Memory:       c.Memory,
		Essential:    c.Essential,
		Command:      c.Command,
		EntryPoint:   c.EntryPoint,
		Links:        c.Links,
		Privileged:   c.Privileged,
		StartTimeout: c.StartTimeout,
		StopTimeout:  c.StopTimeout,
		PortMappings: convert[[]acsmsg.PortMapping](c.PortMappings),
		MountPoints:  convert[[]acsmsg.MountPoint](c.MountPoints),
		VolumesFrom:  convert[[]acsmsg.VolumeFrom](c.VolumesFrom),
		DependsOn:    convert[[]acsmsg.ContainerDependency](c.DependsOn),
	}
	if ov.Command != nil {
		out.Command = ov.Command
	}
	if ov.Cpu != nil {
		out.Cpu = ov.Cpu
	}
	if ov.Memory != nil {
		out.Memory = ov.Memory
	}
	reservation := c.MemoryReservation
	if ov.MemoryReservation != nil {
		reservation = ov.MemoryReservation
	}
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[ecs.Val(kv.Name)] = ecs.Val(kv.Value)
	}
	for _, kv := range ov.Environment {
		env[ecs.Val(kv.Name)] = ecs.Val(kv.Value)
	}
	if len(env) > 0 {
		out.Environment = env
	}
	for _, f := range append(append([]ecs.EnvironmentFile(nil), c.EnvironmentFiles...), ov.EnvironmentFiles...) {
		out.EnvironmentFiles = append(out.EnvironmentFiles, acsmsg.EnvironmentFile{Value: f.Value, Type: acsmsg.EnvironmentFileType(f.Type)})
	}
	if lp := c.LinuxParameters; lp != nil {
		alp := &acsmsg.LinuxParameters{InitProcessEnabled: lp.InitProcessEnabled, SharedMemorySize: lp.SharedMemorySize}
		if lp.Capabilities != nil {
			alp.Capabilities = &acsmsg.KernelCapabilities{Add: lp.Capabilities.Add, Drop: lp.Capabilities.Drop}
		}
		alp.Devices = convert[[]acsmsg.Device](lp.Devices)
		out.LinuxParameters = alp
	}
	if c.HealthCheck != nil {
		out.HealthCheckType = acsmsg.HealthCheckTypeDocker
	}
	cfg, host, err := dockerConfig(c, reservation)
	if err != nil {
		return acsmsg.Container{}, err
	}
	out.DockerConfig = &acsmsg.DockerConfig{Version: ecs.Ptr("1.17"), Config: ecs.Ptr(cfg), HostConfig: ecs.Ptr(host)}
	return out, nil
}
