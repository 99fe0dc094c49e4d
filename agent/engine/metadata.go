package engine

import (
	"net/netip"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
	"github.com/berth-project/berth/agent/metadata"
)

// ContainerEnvironment is what the agent adds to a container's
// environment: the variables it always sets, and those it sets only where
// the task sets none (see docker.Placement). *metadata.Server's
// Environment is the one the agent uses.
type ContainerEnvironment func(t *acsmsg.Task, container string) (always, defaults map[string]string)

// SetEnvironment sets the agent's variables for the containers the engine
// creates from now on; call it before Run.
func (e *Engine) SetEnvironment(f ContainerEnvironment) {
	e.mu.Lock()
	e.env = f
	e.mu.Unlock()
}

// Tasks is the engine's view of its tasks for the task metadata endpoint:
// a copy, so that the endpoint never holds the engine's lock.
func (e *Engine) Tasks() []metadata.Task {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]metadata.Task, 0, len(e.tasks))
	for _, t := range e.tasks {
		out = append(out, e.metadataTask(t))
	}
	return out
}

func (e *Engine) metadataTask(t *task) metadata.Task {
	m := metadata.Task{ARN: t.arn, Cluster: e.cluster, DesiredStatus: t.desired, KnownStatus: t.known,
		PullStartedAt: t.pullStart, PullStoppedAt: t.pullStop, ExecutionStoppedAt: t.stoppedAt}
	if s := t.spec; s != nil {
		m.Family, m.Revision, m.LaunchType = ecs.Val(s.Family), ecs.Val(s.Version), ecs.Val(s.LaunchType)
		m.NetworkMode, m.ServiceName, m.Group = ecs.Val(s.NetworkMode), ecs.Val(s.ServiceName), ecs.Val(s.Group)
		m.AvailabilityZone = ecs.Val(s.Zone)
		if arn := ecs.Val(s.TaskClusterArn); arn != "" {
			m.Cluster = arn
		}
		m.CPU = s.Cpu
		if s.Memory != nil {
			mem := int64(*s.Memory)
			m.Memory = &mem
		}
		if len(s.ElasticNetworkInterfaces) > 0 {
			m.Interface = metadataInterface(&s.ElasticNetworkInterfaces[0])
		}
	} else if t.awsvpc() {
		m.NetworkMode = "awsvpc"
	}
	for _, c := range t.containers {
		mc := metadata.Container{Name: c.name, DockerID: c.id, DesiredStatus: t.desired, KnownStatus: c.known, StartedAt: c.startedAt,
			DockerName: dockerName(t, c)}
		if c.exitCode != nil {
			code := int(*c.exitCode)
			mc.ExitCode = &code
		}
		if sc := c.spec; sc != nil {
			mc.Image, mc.ContainerARN = ecs.Val(sc.Image), ecs.Val(sc.ContainerArn)
			mc.CPU, mc.Memory = float64(ecs.Val(sc.Cpu)), int64(ecs.Val(sc.Memory))
		}
		mc.Labels = map[string]string{docker.LabelTaskARN: t.arn, docker.LabelContainerName: c.name, docker.LabelCluster: e.cluster,
			docker.LabelTaskDefFamily: m.Family, docker.LabelTaskDefVersion: m.Revision}
		for _, b := range c.bindings {
			mc.Ports = append(mc.Ports, metadata.Port{ContainerPort: int(ecs.Val(b.ContainerPort)), HostPort: int(ecs.Val(b.HostPort)),
				Protocol: string(b.Protocol), HostIP: ecs.Val(b.BindIP)})
		}
		m.Containers = append(m.Containers, mc)
	}
	return m
}

func metadataInterface(eni *acsmsg.ElasticNetworkInterface) *metadata.Interface {
	i := &metadata.Interface{MAC: ecs.Val(eni.MacAddress), Gateway: ecs.Val(eni.SubnetGatewayIpv4Address), PrivateDNSName: ecs.Val(eni.PrivateDnsName)}
	for _, a := range eni.Ipv4Addresses {
		if i.Address == "" || ecs.Val(a.Primary) {
			i.Address = ecs.Val(a.PrivateAddress)
		}
	}
	if p, err := netip.ParsePrefix(i.Gateway); err == nil {
		i.SubnetCIDR = p.Masked().String()
	}
	return i
}
