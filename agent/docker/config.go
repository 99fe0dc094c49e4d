package docker

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// The labels every container of a task carries, as the stock agent sets
// them: they are how an agent finds its containers again after a restart.
const (
	LabelTaskARN        = "com.amazonaws.ecs.task-arn"
	LabelContainerName  = "com.amazonaws.ecs.container-name"
	LabelCluster        = "com.amazonaws.ecs.cluster"
	LabelTaskDefFamily  = "com.amazonaws.ecs.task-definition-family"
	LabelTaskDefVersion = "com.amazonaws.ecs.task-definition-version"
)

// LabelInstance names the container instance whose agent created the
// container: an agent adopts only its own, so that two Berths on one Engine
// (two `berth dev`, or one started again with a new data directory) never
// take over each other's containers, which share the cluster label. It is
// Berth's own label, not an ECS one: the stock agent sets only the five
// above and keeps its own record of its containers in its data directory,
// and com.amazonaws.ecs.* is AWS's to extend.
const LabelInstance = "berth.container-instance-arn"

// minCPUShares is Docker's smallest CPU weight; cpu 0 in a task definition
// means "no reservation", which the agent gives the minimum, as ECS's does.
const minCPUShares = 2

// Placement is what the engine knows about a container's neighbours when it
// creates it.
type Placement struct {
	ClusterName string
	Instance    string            // the container instance ARN of the agent creating the container
	Peers       map[string]string // container name in the task -> Docker container name
	Volumes     map[string]string // task volume name -> bind source (host path or Docker volume name)
	EnvFiles    map[string]string // environment file path -> its NAME=VALUE lines, read by the engine
	// CgroupParent is the task's cgroup (see taskcgroup.go), "" for a task
	// without one.
	CgroupParent string
	Sandbox      string // an awsvpc task's pause container id, whose network the container joins
	// AgentEnvironment is what the agent sets in every container: the
	// metadata endpoint's URIs, which win over the task's (they name the
	// container's own id, as the stock agent's do).
	AgentEnvironment map[string]string
	// DefaultEnvironment is set only where the task sets no value (the
	// region, the execution environment).
	DefaultEnvironment map[string]string
}

// Build maps one container of an agent task onto Docker's create request:
// first the configuration computed from the task's fields, then
// dockerConfig.config and dockerConfig.hostConfig laid over it, as the stock
// agent does, then the ECS labels, which nothing may change.
func Build(t *acsmsg.Task, c *acsmsg.Container, p Placement) (*container.Config, *container.HostConfig, error) {
	name := ecs.Val(c.Name)
	cfg := &container.Config{
		Image:      ecs.Val(c.Image),
		Cmd:        c.Command,
		Entrypoint: c.EntryPoint,
		Env:        environment(c, p),
		Labels:     map[string]string{},
	}
	host := &container.HostConfig{
		Privileged: ecs.Val(c.Privileged),
		Resources: container.Resources{
			CgroupParent: p.CgroupParent,
			CPUShares:    max(int64(ecs.Val(c.Cpu)), minCPUShares),
			Memory:       int64(ecs.Val(c.Memory)) << 20,
		},
	}
	switch mode := ecs.Val(t.NetworkMode); mode {
	case "", "bridge":
		exposed, bindings, err := ports(c.PortMappings)
		if err != nil {
			return nil, nil, fmt.Errorf("container %s: %w", name, err)
		}
		cfg.ExposedPorts, host.PortBindings = exposed, bindings
		host.NetworkMode = "bridge"
	case "host", "none":
		host.NetworkMode = container.NetworkMode(mode)
	case "awsvpc":
		// The task's pause container holds its address (awsvpc.go); every
		// container joins its namespace. Nothing is published: the address
		// is reachable on every port, as an ENI's is.
		if p.Sandbox == "" {
			return nil, nil, fmt.Errorf("container %s: the task's pause container is not created", name)
		}
		host.NetworkMode = container.NetworkMode("container:" + p.Sandbox)
	default:
		return nil, nil, fmt.Errorf("network mode %q is not supported by berth agent yet", mode)
	}
	for _, m := range c.MountPoints {
		src, ok := p.Volumes[ecs.Val(m.SourceVolume)]
		if !ok {
			return nil, nil, fmt.Errorf("container %s mounts volume %q, which the task does not define", name, ecs.Val(m.SourceVolume))
		}
		bind := src + ":" + ecs.Val(m.ContainerPath)
		if ecs.Val(m.ReadOnly) {
			bind += ":ro"
		}
		host.Binds = append(host.Binds, bind)
	}
	for _, v := range c.VolumesFrom {
		peer, ok := p.Peers[ecs.Val(v.SourceContainer)]
		if !ok {
			return nil, nil, fmt.Errorf("container %s takes volumes from %q, which is not created", name, ecs.Val(v.SourceContainer))
		}
		if ecs.Val(v.ReadOnly) {
			peer += ":ro"
		}
		host.VolumesFrom = append(host.VolumesFrom, peer)
	}
	for _, l := range c.Links {
		target, alias, found := strings.Cut(l, ":")
		peer, ok := p.Peers[target]
		if !ok {
			return nil, nil, fmt.Errorf("container %s links to %q, which is not created", name, target)
		}
		if !found {
			alias = target
		}
		host.Links = append(host.Links, peer+":"+alias)
	}
	if lp := c.LinuxParameters; lp != nil {
		if lp.Capabilities != nil {
			host.CapAdd, host.CapDrop = lp.Capabilities.Add, lp.Capabilities.Drop
		}
		for _, d := range lp.Devices {
			perms := ""
			for _, p := range d.Permissions {
				perms += string(p)[:1] // read, write, mknod -> r, w, m
			}
			if perms == "" {
				perms = "rwm"
			}
			host.Devices = append(host.Devices, container.DeviceMapping{PathOnHost: ecs.Val(d.HostPath), PathInContainer: ecs.Val(d.ContainerPath), CgroupPermissions: perms})
		}
		host.Init = lp.InitProcessEnabled
		host.ShmSize = int64(ecs.Val(lp.SharedMemorySize)) << 20
	}
	if dc := c.DockerConfig; dc != nil {
		if s := ecs.Val(dc.Config); s != "" {
			if err := json.Unmarshal([]byte(s), cfg); err != nil {
				return nil, nil, fmt.Errorf("container %s: dockerConfig.config: %w", name, err)
			}
		}
		if s := ecs.Val(dc.HostConfig); s != "" {
			if err := json.Unmarshal([]byte(s), host); err != nil {
				return nil, nil, fmt.Errorf("container %s: dockerConfig.hostConfig: %w", name, err)
			}
		}
	}
	mapLogDriver(host, cfg.Labels)
	setTaskLabels(cfg.Labels, t, name, p)
	return cfg, host, nil
}

// setTaskLabels sets the labels that make a container one of the task's.
func setTaskLabels(labels map[string]string, t *acsmsg.Task, name string, p Placement) {
	labels[LabelTaskARN] = ecs.Val(t.Arn)
	labels[LabelContainerName] = name
	labels[LabelCluster] = p.ClusterName
	if p.Instance != "" {
		labels[LabelInstance] = p.Instance
	}
	labels[LabelTaskDefFamily] = ecs.Val(t.Family)
	labels[LabelTaskDefVersion] = ecs.Val(t.Version)
}

// environment is the container's Env: environment files first, then the
// environment, which wins on conflict (as in ECS), then the agent's
// variables (see Placement), sorted for stability.
func environment(c *acsmsg.Container, p Placement) []string {
	files := p.EnvFiles
	env := map[string]string{}
	for _, f := range c.EnvironmentFiles {
		for _, line := range strings.Split(files[ecs.Val(f.Value)], "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if k, v, ok := strings.Cut(line, "="); ok {
				if _, set := env[k]; !set { // the first file naming a variable wins
					env[k] = v
				}
			}
		}
	}
	for k, v := range c.Environment {
		env[k] = v
	}
	for k, v := range p.DefaultEnvironment {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	for k, v := range p.AgentEnvironment {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// ports maps port mappings for bridge networking: hostPort 0 leaves the
// choice to Docker, which takes it from the kernel's ephemeral range.
func ports(mappings []acsmsg.PortMapping) (nat.PortSet, nat.PortMap, error) {
	exposed, bindings := nat.PortSet{}, nat.PortMap{}
	add := func(containerPort int, hostPort int32, proto string) {
		port := nat.Port(strconv.Itoa(containerPort) + "/" + proto)
		exposed[port] = struct{}{}
		hp := ""
		if hostPort > 0 {
			hp = strconv.Itoa(int(hostPort))
		}
		bindings[port] = append(bindings[port], nat.PortBinding{HostPort: hp})
	}
	for _, pm := range mappings {
		proto := string(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if r := ecs.Val(pm.ContainerPortRange); r != "" {
			lo, hi, _ := strings.Cut(r, "-")
			from, err1 := strconv.Atoi(lo)
			to, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || from > to {
				return nil, nil, fmt.Errorf("invalid containerPortRange %q", r)
			}
			for p := from; p <= to; p++ {
				add(p, 0, proto)
			}
			continue
		}
		add(int(ecs.Val(pm.ContainerPort)), ecs.Val(pm.HostPort), proto)
	}
	return exposed, bindings, nil
}

// mapLogDriver keeps logs on the machine: awslogs has nowhere to send them,
// so such containers log with json-file (readable with `docker logs`), and
// the awslogs options are kept as labels for tools that look for them.
func mapLogDriver(host *container.HostConfig, labels map[string]string) {
	if host.LogConfig.Type != "awslogs" {
		return
	}
	for k, v := range host.LogConfig.Config {
		labels["berth.awslogs."+k] = v
	}
	host.LogConfig = container.LogConfig{Type: "json-file"}
}
