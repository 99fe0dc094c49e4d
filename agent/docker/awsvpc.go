package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/errdefs"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// An awsvpc task gets on Docker what an ENI gives it on EC2: an address of
// its subnet, reachable on every port. The control plane allocates the
// address and sends it in the payload (elasticNetworkInterfaces); the
// agent builds the rest:
//   - one bridge network per subnet range, named after it, with the
//     subnet's gateway (.1) as the bridge's address on the host. It is
//     shared by every task of that subnet on the Engine, whichever agent
//     runs them, and removed by the agent that removes its last container;
//   - one pause container per task, on that network at the task's address
//     and MAC, holding the network namespace every container of the task
//     joins (Build, network mode container:<pause>).

// PauseContainerName is the pause container's name within its task (the
// container-name label), as the stock agent names its own.
const PauseContainerName = "~internal~ecs~pause"

// LabelAWSVPC marks the networks the agent made for subnets.
const LabelAWSVPC = "berth.awsvpc"

// pauseStopTimeout is how long the pause is given to exit on SIGTERM
// before it is killed; it exits at once.
const pauseStopTimeout = 10 * time.Second

// Sandbox is an awsvpc task's network: where its pause container goes.
type Sandbox struct {
	Subnet   netip.Prefix // the subnet's range
	Gateway  netip.Addr   // the bridge's address on the host
	Address  netip.Addr   // the task's address
	MAC      string
	Hostname string
	Labels   map[string]string // the task's labels, as its other containers carry them
}

// Network is the Docker network of the sandbox's subnet.
func (s Sandbox) Network() string { return NetworkName(s.Subnet) }

// NetworkName names a subnet range's network: berth-awsvpc-10.224.5.0-24.
func NetworkName(subnet netip.Prefix) string {
	return fmt.Sprintf("berth-awsvpc-%s-%d", subnet.Addr(), subnet.Bits())
}

// SandboxFor reads an awsvpc task's network from its payload: its first
// elastic network interface, whose primary IPv4 address is the task's and
// whose subnetGatewayIpv4Address ("10.224.5.1/24") gives the range.
func SandboxFor(t *acsmsg.Task, p Placement) (Sandbox, error) {
	if len(t.ElasticNetworkInterfaces) == 0 {
		return Sandbox{}, errors.New("the awsvpc task's payload has no elastic network interface")
	}
	eni := t.ElasticNetworkInterfaces[0]
	gw, err := netip.ParsePrefix(ecs.Val(eni.SubnetGatewayIpv4Address))
	if err != nil || !gw.Addr().Is4() {
		return Sandbox{}, fmt.Errorf("the network interface's subnet gateway %q is not an IPv4 address with a prefix length", ecs.Val(eni.SubnetGatewayIpv4Address))
	}
	s := Sandbox{Subnet: gw.Masked(), Gateway: gw.Addr(), MAC: ecs.Val(eni.MacAddress), Labels: map[string]string{}}
	for _, a := range eni.Ipv4Addresses {
		if ecs.Val(a.Primary) || !s.Address.IsValid() {
			s.Address, err = netip.ParseAddr(ecs.Val(a.PrivateAddress))
			if err != nil {
				return Sandbox{}, fmt.Errorf("the network interface's address %q: %w", ecs.Val(a.PrivateAddress), err)
			}
		}
	}
	if !s.Address.IsValid() || !s.Subnet.Contains(s.Address) || s.Address == s.Gateway {
		return Sandbox{}, fmt.Errorf("the network interface's address %v is not a host of its subnet %v", s.Address, s.Subnet)
	}
	// ip-10-224-5-4.ec2.internal -> ip-10-224-5-4, as an EC2 host names itself.
	s.Hostname, _, _ = strings.Cut(ecs.Val(eni.PrivateDnsName), ".")
	setTaskLabels(s.Labels, t, PauseContainerName, p)
	return s, nil
}

// AttachmentARN is the ARN of the task's network interface attachment,
// which the agent reports ATTACHED and DETACHED.
func AttachmentARN(t *acsmsg.Task) string {
	if len(t.ElasticNetworkInterfaces) == 0 {
		return ""
	}
	return ecs.Val(t.ElasticNetworkInterfaces[0].AttachmentArn)
}

// RunSandbox creates and starts the pause container under name, on its
// subnet's network (made first if need be), and answers its id. A
// container of that name that exists already is returned as it is (a start
// retried after a crash). The network may vanish between its check and the
// create or the start: another agent removed it with its last container.
// Then all is done once again.
func (r *Runtime) RunSandbox(ctx context.Context, name string, s Sandbox) (string, error) {
	ref, err := r.PauseImage(ctx)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		id, err := r.runSandbox(ctx, ref, name, s)
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), s.Network()) {
			return id, err
		}
		if id != "" {
			_ = r.Remove(ctx, id)
		}
	}
}

func (r *Runtime) runSandbox(ctx context.Context, ref, name string, s Sandbox) (string, error) {
	if err := r.ensureNetwork(ctx, s); err != nil {
		return "", err
	}
	cfg := &container.Config{Image: ref, Hostname: s.Hostname, Labels: s.Labels, MacAddress: s.MAC} //nolint:staticcheck // the container's MAC on API < 1.44
	endpoint := &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: s.Address.String()}}
	if versions.GreaterThanOrEqualTo(r.cli.ClientVersion(), "1.44") {
		endpoint.MacAddress = s.MAC // per endpoint since 1.44; the client drops Config's
	}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(s.Network()), ReadonlyRootfs: true}
	resp, err := r.cli.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network(): endpoint}}, nil, name)
	id := resp.ID
	if errdefs.IsConflict(err) {
		existing, ierr := r.cli.ContainerInspect(ctx, name)
		if ierr != nil {
			return "", err
		}
		id, err = existing.ID, nil
	}
	if err != nil {
		return "", err
	}
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return id, err
	}
	return id, nil
}

// ensureNetwork makes the subnet's network unless it exists. One that
// exists under the name with another range is an error, never changed: it
// is not this agent's to change.
func (r *Runtime) ensureNetwork(ctx context.Context, s Sandbox) error {
	check := func(n network.Inspect) error {
		for _, c := range n.IPAM.Config {
			if c.Subnet == s.Subnet.String() {
				return nil
			}
		}
		return fmt.Errorf("the Docker network %s exists but not with the range %v: remove it (docker network rm %s)", s.Network(), s.Subnet, s.Network())
	}
	n, err := r.cli.NetworkInspect(ctx, s.Network(), network.InspectOptions{})
	if err == nil {
		return check(n)
	}
	if !errdefs.IsNotFound(err) {
		return err
	}
	_, err = r.cli.NetworkCreate(ctx, s.Network(), network.CreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: s.Subnet.String(), Gateway: s.Gateway.String()}}},
		Labels: map[string]string{LabelAWSVPC: "true"},
	})
	if err == nil {
		return nil
	}
	// Another agent may have made it meanwhile: use theirs if it is the same.
	if n, ierr := r.cli.NetworkInspect(ctx, s.Network(), network.InspectOptions{}); ierr == nil {
		return check(n)
	}
	return fmt.Errorf("create the Docker network %s for %v: %w", s.Network(), s.Subnet, err)
}

// RemoveSandbox stops and removes a pause container, then its subnet's
// network if no container is left on it. A container already gone is no
// error.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	var networks []string
	if c, err := r.cli.ContainerInspect(ctx, id); err == nil && c.NetworkSettings != nil {
		for name := range c.NetworkSettings.Networks {
			networks = append(networks, name)
		}
	}
	if err := r.Stop(ctx, id, pauseStopTimeout); err != nil {
		return err
	}
	if err := r.Remove(ctx, id); err != nil {
		return err
	}
	for _, name := range networks {
		r.releaseNetwork(ctx, name)
	}
	return nil
}

// releaseNetwork removes a subnet's network that no container is on, not
// even a created one: Docker refuses to remove a network with running
// containers, but not one a created container is waiting to join. A
// network being joined at this very moment can still go: RunSandbox makes
// it again. Failures only leave the network in place, which is harmless.
func (r *Runtime) releaseNetwork(ctx context.Context, name string) {
	n, err := r.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil || n.Labels[LabelAWSVPC] != "true" || len(n.Containers) > 0 {
		return
	}
	users, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", n.ID))})
	if err != nil || len(users) > 0 {
		return
	}
	_ = r.cli.NetworkRemove(ctx, n.ID)
}
