package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
)

// What the task metadata endpoint (agent/metadata) reads from the Engine
// beyond what the task engine keeps: the address it serves on, the
// addresses Docker gave bridge containers, and their stats.

// maxStatsBytes bounds one stats answer read from the Engine: a sample is a
// few KiB, and the endpoint never holds more than this per container.
const maxStatsBytes = 1 << 20

// BridgeGateway is the host's address on Docker's default bridge (docker0):
// containers on it, containers on the agent's awsvpc networks (the traffic
// is for a local address of the host, not forwarded) and containers in the
// host's namespace all reach it, and nothing off the machine does.
func (r *Runtime) BridgeGateway(ctx context.Context) (netip.Addr, error) {
	n, err := r.cli.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return netip.Addr{}, err
	}
	for _, c := range n.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
			return a, nil
		}
	}
	// The default bridge's IPAM often names no gateway: the address is on
	// its interface (the agent runs on the Engine's machine).
	if ifc, err := net.InterfaceByName(n.Options["com.docker.network.bridge.name"]); err == nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				return p.Addr(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("the Docker network bridge has no IPv4 gateway")
}

// Details is what a container's metadata document needs of its inspect:
// its image's id and its IPv4 address on each Docker network (a bridge
// container's IPv4Addresses).
type Details struct {
	ID        string
	ImageID   string
	Addresses map[string]string // Docker network name -> IPv4 address
}

// ContainerDetails inspects a container, by id or name, for its metadata
// document.
func (r *Runtime) ContainerDetails(ctx context.Context, id string) (Details, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if errdefs.IsNotFound(err) {
		return Details{}, ErrNotFound
	}
	if err != nil {
		return Details{}, err
	}
	d := Details{ID: c.ID, ImageID: c.Image, Addresses: map[string]string{}}
	if c.NetworkSettings != nil {
		for name, n := range c.NetworkSettings.Networks {
			if n != nil && n.IPAddress != "" {
				d.Addresses[name] = n.IPAddress
			}
		}
	}
	return d, nil
}

// Stats is one sample of a container's Docker stats, in Docker's own JSON
// (which ECS's endpoint passes through unchanged).
func (r *Runtime) Stats(ctx context.Context, id string) (json.RawMessage, error) {
	s, err := r.cli.ContainerStats(ctx, id, false)
	if errdefs.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer s.Body.Close()
	b, err := io.ReadAll(io.LimitReader(s.Body, maxStatsBytes))
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("the Engine's stats for %s are not JSON", id)
	}
	return b, nil
}
