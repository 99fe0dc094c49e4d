package docker_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
	"github.com/berth-project/berth/agent/docker/dockertest"
)

// sandboxTask is an awsvpc task's payload at the subnet's .4.
func sandboxTask(arn string, subnet netip.Prefix) *acsmsg.Task {
	base := subnet.Addr().As4()
	addr := netip.AddrFrom4([4]byte{base[0], base[1], base[2], 4})
	gw := netip.AddrFrom4([4]byte{base[0], base[1], base[2], 1})
	return &acsmsg.Task{Arn: ecs.Ptr(arn), Family: ecs.Ptr("vpc"), Version: ecs.Ptr("1"), NetworkMode: ecs.Ptr("awsvpc"),
		ElasticNetworkInterfaces: []acsmsg.ElasticNetworkInterface{{
			AttachmentArn: ecs.Ptr("arn:aws:ecs:us-east-1:000000000000:attachment/test"), MacAddress: ecs.Ptr("02:42:0a:ef:00:04"),
			Ipv4Addresses:            []acsmsg.IPv4AddressAssignment{{Primary: ecs.Ptr(true), PrivateAddress: ecs.Ptr(addr.String())}},
			SubnetGatewayIpv4Address: ecs.Ptr(netip.PrefixFrom(gw, subnet.Bits()).String()), PrivateDnsName: ecs.Ptr("ip-test.ec2.internal"),
		}}}
}

// TestASandboxHoldsTheTasksAddressOnItsSubnetsNetwork runs a pause
// container from the image the runtime builds of this very test binary: it
// must run FROM scratch, hold the payload's address and MAC on the
// subnet's network, exit 0 on SIGTERM, and take the network with it when
// it is removed as the network's last container.
func TestASandboxHoldsTheTasksAddressOnItsSubnetsNetwork(t *testing.T) {
	rt := dockertest.Runtime(t)
	ctx := context.Background()
	subnet := dockertest.Subnet(t, rt)
	arn := dockertest.TaskARN()
	dockertest.RemoveTask(t, rt, arn)
	tk := sandboxTask(arn, subnet)
	sb, err := docker.SandboxFor(tk, docker.Placement{ClusterName: "default", Instance: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/test"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := rt.PauseImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Client().ImageRemove(context.Background(), ref, image.RemoveOptions{PruneChildren: true}) })

	id, err := rt.RunSandbox(ctx, "berth-test-pause-"+arn[len(arn)-12:], sb)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Client().ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ep := c.NetworkSettings.Networks[docker.NetworkName(subnet)]
	if !c.State.Running || ep == nil || ep.IPAddress != sb.Address.String() || ep.MacAddress != sb.MAC || c.Config.Hostname != "ip-test" {
		t.Fatalf("the pause container: running %v, hostname %q, endpoint %+v; want %v at %s", c.State.Running, c.Config.Hostname, ep, sb.Address, sb.MAC)
	}
	if c.Config.Labels[docker.LabelTaskARN] != arn || c.Config.Labels[docker.LabelContainerName] != docker.PauseContainerName {
		t.Errorf("the pause container's labels: %v", c.Config.Labels)
	}
	n, err := rt.Client().NetworkInspect(ctx, docker.NetworkName(subnet), network.InspectOptions{})
	if err != nil || n.Labels[docker.LabelAWSVPC] != "true" || len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Gateway != sb.Gateway.String() {
		t.Fatalf("the subnet's network: %+v, %v", n, err)
	}

	// A second task of the subnet shares the network.
	otherARN := dockertest.TaskARN()
	dockertest.RemoveTask(t, rt, otherARN)
	other := sandboxTask(otherARN, subnet)
	other.ElasticNetworkInterfaces[0].Ipv4Addresses[0].PrivateAddress = ecs.Ptr(sb.Address.Next().String())
	other.ElasticNetworkInterfaces[0].MacAddress = ecs.Ptr("02:42:0a:ef:00:05")
	otherSB, err := docker.SandboxFor(other, docker.Placement{ClusterName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	otherID, err := rt.RunSandbox(ctx, "berth-test-pause-"+otherARN[len(otherARN)-12:], otherSB)
	if err != nil {
		t.Fatal(err)
	}
	if n2, err := rt.Client().NetworkInspect(ctx, docker.NetworkName(subnet), network.InspectOptions{}); err != nil || n2.ID != n.ID || len(n2.Containers) != 2 {
		t.Fatalf("the second task's pause container is not on the subnet's one network: %+v, %v", n2.Containers, err)
	}

	// The pause exits 0 on SIGTERM, long before the stop timeout.
	if err := rt.Stop(ctx, id, time.Minute); err != nil {
		t.Fatal(err)
	}
	if c, err := rt.Client().ContainerInspect(ctx, id); err != nil || c.State.ExitCode != 0 {
		t.Fatalf("the pause container exited with %d (%v); want 0, of the SIGTERM", c.State.ExitCode, err)
	}
	if err := rt.RemoveSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Client().ContainerInspect(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("the pause container is still there: %v", err)
	}
	if _, err := rt.Client().NetworkInspect(ctx, docker.NetworkName(subnet), network.InspectOptions{}); err != nil {
		t.Fatalf("the network went while another task's pause container is on it: %v", err)
	}
	if err := rt.RemoveSandbox(ctx, otherID); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Client().NetworkInspect(ctx, docker.NetworkName(subnet), network.InspectOptions{}); !errdefs.IsNotFound(err) {
		t.Fatalf("the network outlived its last container: %v", err)
	}
}
