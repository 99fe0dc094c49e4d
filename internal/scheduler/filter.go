package scheduler

import "slices"

// The failure reasons ECS gives for an instance that cannot take a task.
const (
	ReasonDraining         = "DRAINING"
	ReasonAgent            = "AGENT"
	ReasonAttribute        = "ATTRIBUTE"
	ReasonCPU              = "RESOURCE:CPU"
	ReasonMemory           = "RESOURCE:MEMORY"
	ReasonPorts            = "RESOURCE:PORTS"
	ReasonPortsUDP         = "RESOURCE:PORTS_UDP"
	ReasonGPU              = "RESOURCE:GPU"
	ReasonMemberOf         = "MemberOf placement constraint unsatisfied."
	ReasonDistinctInstance = "DistinctInstance placement constraint unsatisfied."
)

// A filter says why an instance cannot take a task, or "" when it can.
type filter func(c *Candidate, d *Demand) string

// staticFilters do not change as tasks are placed, so a batch runs them once
// per instance. They run in ECS's order: an instance is reported with the
// first one it fails.
var staticFilters = []filter{active, agentConnected, requiredAttributes, memberOf}

// taskFilters depend on what the batch has already placed, so they run for
// every task.
var taskFilters = []filter{cpu, memory, ports, portsUDP, gpus, distinctInstance}

// active keeps tasks off DRAINING instances (the caller never offers
// INACTIVE ones).
func active(c *Candidate, _ *Demand) string {
	if c.Status != "ACTIVE" {
		return ReasonDraining
	}
	return ""
}

// agentConnected: only an instance whose agent is connected can be sent a task.
func agentConnected(c *Candidate, _ *Demand) string {
	if !c.AgentConnected {
		return ReasonAgent
	}
	return ""
}

// requiredAttributes: the instance has every attribute the task definition
// requires (its features' capabilities and any it names).
func requiredAttributes(c *Candidate, d *Demand) string {
	for _, a := range d.Attributes {
		v, ok := c.Attributes[a.Name]
		if !ok || (a.Value != "" && v != a.Value) {
			return ReasonAttribute
		}
	}
	return ""
}

func memberOf(c *Candidate, d *Demand) string {
	for _, k := range d.Constraints {
		if k.Type == MemberOf && !k.Expr.Match(c.Query()) {
			return ReasonMemberOf
		}
	}
	return ""
}

func cpu(c *Candidate, d *Demand) string {
	if d.CPU > c.CPU {
		return ReasonCPU
	}
	return ""
}

func memory(c *Candidate, d *Demand) string {
	if d.Memory > c.Memory {
		return ReasonMemory
	}
	return ""
}

func ports(c *Candidate, d *Demand) string {
	if d.DynamicPorts > c.DynamicPortsFree {
		return ReasonPorts
	}
	for _, p := range d.Ports {
		if slices.Contains(c.UsedPorts, p) {
			return ReasonPorts
		}
	}
	return ""
}

func portsUDP(c *Candidate, d *Demand) string {
	for _, p := range d.PortsUDP {
		if slices.Contains(c.UsedUDP, p) {
			return ReasonPortsUDP
		}
	}
	return ""
}

func gpus(c *Candidate, d *Demand) string {
	if d.GPUs > len(c.FreeGPUs) {
		return ReasonGPU
	}
	return ""
}

// distinctInstance: no two tasks of the group on one instance.
func distinctInstance(c *Candidate, d *Demand) string {
	for _, k := range d.Constraints {
		if k.Type == DistinctInstance && c.Groups[d.Group] > 0 {
			return ReasonDistinctInstance
		}
	}
	return ""
}

func firstFailure(filters []filter, c *Candidate, d *Demand) string {
	for _, f := range filters {
		if r := f(c, d); r != "" {
			return r
		}
	}
	return ""
}
