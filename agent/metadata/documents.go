package metadata

import (
	"context"
	"time"

	"github.com/berth-project/berth/agent/docker"
)

// The documents, member for member as ECS's agent names them (its
// tmds/handlers/v2 and v4/state response types): v3 is v2's shape; v4 adds
// each network's interface properties, ServiceName and friends.

type taskDoc struct {
	Cluster               string         `json:"Cluster"`
	TaskARN               string         `json:"TaskARN"`
	Family                string         `json:"Family"`
	Revision              string         `json:"Revision"`
	DesiredStatus         string         `json:"DesiredStatus,omitempty"`
	KnownStatus           string         `json:"KnownStatus"`
	Containers            []containerDoc `json:"Containers,omitempty"`
	Limits                *limits        `json:"Limits,omitempty"`
	PullStartedAt         *time.Time     `json:"PullStartedAt,omitempty"`
	PullStoppedAt         *time.Time     `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt    *time.Time     `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone      string         `json:"AvailabilityZone,omitempty"`
	LaunchType            string         `json:"LaunchType,omitempty"`
	ServiceName           string         `json:"ServiceName,omitempty"`           // v4
	Group                 string         `json:"Group,omitempty"`                 // v4
	FaultInjectionEnabled *bool          `json:"FaultInjectionEnabled,omitempty"` // v4, always there
}

type limits struct {
	CPU    *float64 `json:"CPU,omitempty"`
	Memory *int64   `json:"Memory,omitempty"`
}

type containerDoc struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID"`
	Ports         []portDoc         `json:"Ports,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int              `json:"ExitCode,omitempty"`
	Limits        limits            `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	Networks      []networkDoc      `json:"Networks,omitempty"`
	ContainerARN  string            `json:"ContainerARN,omitempty"`
}

type portDoc struct {
	ContainerPort int    `json:"ContainerPort,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	HostPort      int    `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"`
}

type networkDoc struct {
	NetworkMode   string   `json:"NetworkMode,omitempty"`
	IPv4Addresses []string `json:"IPv4Addresses,omitempty"`
	// v4, awsvpc only
	AttachmentIndex          *int   `json:"AttachmentIndex,omitempty"`
	MACAddress               string `json:"MACAddress,omitempty"`
	IPv4SubnetCIDRBlock      string `json:"IPv4SubnetCIDRBlock,omitempty"`
	PrivateDNSName           string `json:"PrivateDNSName,omitempty"`
	SubnetGatewayIPv4Address string `json:"SubnetGatewayIpv4Address,omitempty"`
}

func stamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (h *handler) taskDoc(ctx context.Context, t Task, v4 bool) taskDoc {
	d := taskDoc{Cluster: t.Cluster, TaskARN: t.ARN, Family: t.Family, Revision: t.Revision,
		DesiredStatus: t.DesiredStatus, KnownStatus: t.KnownStatus,
		PullStartedAt: stamp(t.PullStartedAt), PullStoppedAt: stamp(t.PullStoppedAt), ExecutionStoppedAt: stamp(t.ExecutionStoppedAt),
		AvailabilityZone: t.AvailabilityZone, LaunchType: t.LaunchType}
	if d.AvailabilityZone == "" {
		d.AvailabilityZone = h.s.cfg.AvailabilityZone
	}
	if t.CPU != nil || t.Memory != nil {
		d.Limits = &limits{CPU: t.CPU, Memory: t.Memory}
	}
	if v4 {
		d.ServiceName, d.Group = t.ServiceName, t.Group
		d.FaultInjectionEnabled = new(bool)
	}
	for _, c := range t.Containers {
		d.Containers = append(d.Containers, h.containerDoc(ctx, t, c, v4))
	}
	return d
}

func (h *handler) containerDoc(ctx context.Context, t Task, c Container, v4 bool) containerDoc {
	d := containerDoc{DockerID: c.DockerID, Name: c.Name, DockerName: c.DockerName, Image: c.Image,
		Labels: c.Labels, DesiredStatus: c.DesiredStatus, KnownStatus: c.KnownStatus, ExitCode: c.ExitCode,
		CreatedAt: stamp(c.CreatedAt), StartedAt: stamp(c.StartedAt), FinishedAt: stamp(c.FinishedAt),
		Type: "NORMAL", ContainerARN: c.ContainerARN}
	cpu := c.CPU
	d.Limits.CPU = &cpu
	if c.Memory > 0 {
		mem := c.Memory
		d.Limits.Memory = &mem
	}
	for _, p := range c.Ports {
		d.Ports = append(d.Ports, portDoc{ContainerPort: p.ContainerPort, Protocol: p.Protocol, HostPort: p.HostPort, HostIP: p.HostIP})
	}
	mode := t.NetworkMode
	if mode == "" {
		mode = "bridge"
	}
	var det docker.Details
	if c.DockerID != "" && h.dk != nil {
		det, _ = h.dk.ContainerDetails(ctx, c.DockerID) // a container gone has no image or address left to tell
		d.ImageID = det.ImageID
	}
	n := networkDoc{NetworkMode: mode}
	switch {
	case mode == "awsvpc" && t.Interface != nil:
		n.IPv4Addresses = []string{t.Interface.Address}
		if v4 {
			n.AttachmentIndex = new(int)
			n.MACAddress, n.IPv4SubnetCIDRBlock = t.Interface.MAC, t.Interface.SubnetCIDR
			n.PrivateDNSName, n.SubnetGatewayIPv4Address = t.Interface.PrivateDNSName, t.Interface.Gateway
		}
	case mode == "bridge" && det.Addresses["bridge"] != "":
		n.IPv4Addresses = []string{det.Addresses["bridge"]}
	}
	d.Networks = []networkDoc{n}
	return d
}
