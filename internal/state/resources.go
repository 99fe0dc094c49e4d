package state

import (
	"slices"
	"strconv"
	"strings"

	"github.com/berth-project/berth/api/ecs"
)

// Needs is what a task takes from the container instance it runs on,
// as ECS accounts it: the task-level cpu and memory when the definition
// (or an override) sets them, else the sum over its containers (memory
// counted as memoryReservation when set, else memory), and its static host
// ports.
type Needs struct {
	CPU      int64    `json:"cpu"`
	Memory   int64    `json:"memory"`
	Ports    []string `json:"ports,omitempty"`    // TCP host ports
	PortsUDP []string `json:"portsUdp,omitempty"` // UDP host ports
	GPUCount int      `json:"gpuCount,omitempty"` // GPUs asked for in resourceRequirements
	GPUs     []string `json:"gpus,omitempty"`     // the ids of the GPUs placement gave the task
	// DynamicPorts counts bridge-mode mappings without a host port: each
	// takes a port of the instance's ephemeral range.
	DynamicPorts int `json:"dynamicPorts,omitempty"`
}

// DynamicPortRange is the number of ports Docker hands out for dynamic host
// ports: Linux's default ephemeral range, 32768-60999, which Docker uses
// (ECS's agent takes the same range from the kernel unless configured).
const DynamicPortRange = 60999 - 32768 + 1

// GPUsOf is the number of GPUs a container asks for, overrides applied.
func GPUsOf(c ecs.ContainerDefinition, ov *ecs.TaskOverride) int {
	rr := c.ResourceRequirements
	if ov != nil {
		for _, co := range ov.ContainerOverrides {
			if ecs.Val(co.Name) == ecs.Val(c.Name) && co.ResourceRequirements != nil {
				rr = co.ResourceRequirements
			}
		}
	}
	n := 0
	for _, r := range rr {
		if r.Type == ecs.ResourceTypeGpu {
			g, _ := strconv.Atoi(ecs.Val(r.Value))
			n += g
		}
	}
	return n
}

func NeedsOf(td *ecs.TaskDefinition, ov *ecs.TaskOverride) Needs {
	var n Needs
	overrides := map[string]ecs.ContainerOverride{}
	if ov != nil {
		for _, co := range ov.ContainerOverrides {
			overrides[ecs.Val(co.Name)] = co
		}
	}
	for _, c := range td.ContainerDefinitions {
		co := overrides[ecs.Val(c.Name)]
		cpu, mem, res := c.Cpu, c.Memory, c.MemoryReservation
		if co.Cpu != nil {
			cpu = co.Cpu
		}
		if co.Memory != nil {
			mem = co.Memory
		}
		if co.MemoryReservation != nil {
			res = co.MemoryReservation
		}
		n.GPUCount += GPUsOf(c, ov)
		n.CPU += int64(ecs.Val(cpu))
		if res != nil {
			n.Memory += int64(*res)
		} else {
			n.Memory += int64(ecs.Val(mem))
		}
		for _, pm := range c.PortMappings {
			hp := ecs.Val(pm.HostPort)
			switch {
			case td.NetworkMode == ecs.NetworkModeAwsvpc || td.NetworkMode == ecs.NetworkModeNone:
				continue // in the task's own network namespace
			case td.NetworkMode == ecs.NetworkModeHost && hp == 0:
				hp = ecs.Val(pm.ContainerPort) // host mode publishes the container port itself
			case hp == 0:
				n.DynamicPorts++ // bridge: Docker picks one from the instance's ephemeral range
				continue
			}
			if pm.Protocol == ecs.TransportProtocolUdp {
				n.PortsUDP = append(n.PortsUDP, strconv.Itoa(int(hp)))
			} else {
				n.Ports = append(n.Ports, strconv.Itoa(int(hp)))
			}
		}
	}
	taskCPU, taskMem := td.Cpu, td.Memory
	if ov != nil && ov.Cpu != nil {
		taskCPU = ov.Cpu
	}
	if ov != nil && ov.Memory != nil {
		taskMem = ov.Memory
	}
	if v, ok := ParseTaskCPU(taskCPU); ok && v > 0 {
		n.CPU = v
	}
	if v, ok := ParseTaskMemory(taskMem); ok && v > 0 {
		n.Memory = v
	}
	return n
}

func resourceIndex(rs []ecs.Resource, name string) int {
	return slices.IndexFunc(rs, func(r ecs.Resource) bool { return ecs.Val(r.Name) == name })
}

func ResourceInt(rs []ecs.Resource, name string) int64 {
	if i := resourceIndex(rs, name); i >= 0 {
		return int64(ecs.Val(rs[i].IntegerValue))
	}
	return 0
}

func ResourceSet(rs []ecs.Resource, name string) []string {
	if i := resourceIndex(rs, name); i >= 0 {
		return rs[i].StringSetValue
	}
	return nil
}

// Adjusted returns a copy of rs with a task's needs taken (sign 1) or given
// back (sign -1). Remaining PORTS list the ports in use, as ECS shows them.
func Adjusted(rs []ecs.Resource, n Needs, sign int64) []ecs.Resource {
	out := make([]ecs.Resource, len(rs))
	for i, r := range rs {
		switch ecs.Val(r.Name) {
		case "CPU":
			r.IntegerValue = ecs.Ptr(int32(int64(ecs.Val(r.IntegerValue)) - sign*n.CPU))
		case "MEMORY":
			r.IntegerValue = ecs.Ptr(int32(int64(ecs.Val(r.IntegerValue)) - sign*n.Memory))
		case "PORTS":
			r.StringSetValue = adjustedSet(r.StringSetValue, n.Ports, sign)
		case "PORTS_UDP":
			r.StringSetValue = adjustedSet(r.StringSetValue, n.PortsUDP, sign)
		case "GPU":
			// Remaining GPUs are the free ones: taking removes ids.
			r.StringSetValue = adjustedSet(r.StringSetValue, n.GPUs, -sign)
		}
		out[i] = r
	}
	return out
}

func adjustedSet(set, ports []string, sign int64) []string {
	out := slices.Clone(set)
	for _, p := range ports {
		if sign > 0 {
			out = append(out, p)
		} else if i := slices.Index(out, p); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// MinContainerMemoryMiB is the least memory a container may have: Docker
// 20.10 reserves 6 MiB per container.
const MinContainerMemoryMiB = 6

// ParseTaskCPU reads task cpu as CPU units ("1024") or vCPUs ("1 vCPU",
// "0.25 vcpu"); 0 means unset. ok is false for a value ECS refuses.
func ParseTaskCPU(s *string) (int64, bool) {
	if s == nil {
		return 0, true
	}
	v, ok := parseAmount(*s, "vcpu", 1024)
	if !ok || v < 128 || v > 196608 {
		return 0, false
	}
	return v, true
}

// ParseTaskMemory reads task memory as MiB ("2048") or GB ("2 GB", "2gb").
func ParseTaskMemory(s *string) (int64, bool) {
	if s == nil {
		return 0, true
	}
	v, ok := parseAmount(*s, "gb", 1024)
	if !ok || v < MinContainerMemoryMiB {
		return 0, false
	}
	return v, true
}

// parseAmount reads "N" as N, or "X <unit>" as X*scale (X may be a decimal).
func parseAmount(s, unit string, scale float64) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if num, found := strings.CutSuffix(s, unit); found {
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || f <= 0 {
			return 0, false
		}
		return int64(f * scale), true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}
