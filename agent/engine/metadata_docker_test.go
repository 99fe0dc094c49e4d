package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
	"github.com/berth-project/berth/agent/docker/dockertest"
	"github.com/berth-project/berth/agent/metadata"
)

// The task metadata endpoint over the real Docker Engine: a container of
// a bridge, a host and an awsvpc task each fetch their task's document
// from $ECS_CONTAINER_METADATA_URI_V4/task and print it; it names their own
// task and containers. After the agent dies and another starts on the same
// data directory, the URIs the containers hold answer again.

// metadataAgent is an engine with its metadata endpoint, as agent.Run
// wires them.
type metadataAgent struct {
	e    *Engine
	srv  *metadata.Server
	stop func()
}

func startMetadataAgent(t *testing.T, rt *docker.Runtime, dir string, adopt bool) *metadataAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := rt.BridgeGateway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metadata.Open(metadata.Config{DataDir: dir, Address: gw, Region: "eu-west-1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	e := New(rt, testCluster, testInstance, rec.report, slog.New(slog.DiscardHandler))
	e.SetEnvironment(srv.Environment)
	if adopt {
		if err := e.Adopt(ctx); err != nil {
			t.Fatal(err)
		}
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ctx, e, rt) }()
	go e.Run(ctx)
	a := &metadataAgent{e: e, srv: srv, stop: func() { cancel(); <-served }}
	t.Cleanup(a.stop)
	return a
}

// printsItsTask is a container that prints its task's document, then
// stays up so that its task stays RUNNING.
func printsItsTask(name string) acsmsg.Container {
	return acsmsg.Container{Name: ecs.Ptr(name), Image: ecs.Ptr(dockertest.BusyboxImage), StopTimeout: ecs.Ptr(int32(1)),
		Command: []string{"/bin/sh", "-c", `/bin/busybox wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"; echo; echo "region=$AWS_REGION exec=$AWS_EXECUTION_ENV"; exec /bin/busybox sleep 3600`}}
}

func TestContainersReadTheirTaskMetadataOnDocker(t *testing.T) {
	rt := dockertest.Runtime(t)
	dockertest.Busybox(t, rt)
	ctx := context.Background()
	t.Cleanup(func() {
		if ref, err := rt.PauseImage(ctx); err == nil {
			rt.Client().ImageRemove(ctx, ref, image.RemoveOptions{})
		}
	})
	subnet := dockertest.Subnet(t, rt)
	base := subnet.Addr().As4()
	addr := netip.AddrFrom4([4]byte{base[0], base[1], base[2], 4})

	bridgeARN, hostARN, vpcARN := dockertest.TaskARN(), dockertest.TaskARN(), dockertest.TaskARN()
	dockertest.RemoveTask(t, rt, bridgeARN)
	dockertest.RemoveTask(t, rt, hostARN)
	dockertest.RemoveTask(t, rt, vpcARN)
	bridgeTask := acsmsg.Task{Arn: ecs.Ptr(bridgeARN), Family: ecs.Ptr("meta"), Version: ecs.Ptr("1"), DesiredStatus: ecs.Ptr(statusRunning),
		NetworkMode: ecs.Ptr("bridge"), Containers: []acsmsg.Container{printsItsTask("app")}}
	hostTask := acsmsg.Task{Arn: ecs.Ptr(hostARN), Family: ecs.Ptr("metahost"), Version: ecs.Ptr("1"), DesiredStatus: ecs.Ptr(statusRunning),
		NetworkMode: ecs.Ptr("host"), Containers: []acsmsg.Container{printsItsTask("app")}}
	vpcTask := acsmsg.Task{Arn: ecs.Ptr(vpcARN), Family: ecs.Ptr("metavpc"), Version: ecs.Ptr("2"), DesiredStatus: ecs.Ptr(statusRunning),
		NetworkMode: ecs.Ptr("awsvpc"), Containers: []acsmsg.Container{printsItsTask("app")},
		ElasticNetworkInterfaces: []acsmsg.ElasticNetworkInterface{{
			AttachmentArn: ecs.Ptr(testAttachARN), Ec2Id: ecs.Ptr("eni-0123456789abcdef0"), MacAddress: ecs.Ptr(fmt.Sprintf("02:42:0a:ef:%02x:04", base[2])),
			Ipv4Addresses:            []acsmsg.IPv4AddressAssignment{{Primary: ecs.Ptr(true), PrivateAddress: ecs.Ptr(addr.String())}},
			SubnetGatewayIpv4Address: ecs.Ptr(fmt.Sprintf("10.239.%d.1/24", base[2])), PrivateDnsName: ecs.Ptr("ip-10-239-x-4.ec2.internal"),
		}}}

	dir := t.TempDir()
	first := startMetadataAgent(t, rt, dir, false)
	first.e.Apply([]acsmsg.Task{bridgeTask, hostTask, vpcTask})

	uris := map[string]string{}
	for _, c := range []struct {
		arn, mode string
	}{{bridgeARN, "bridge"}, {hostARN, "host"}, {vpcARN, "awsvpc"}} {
		out := printed(t, rt, first.e, c.arn)
		doc, rest, _ := strings.Cut(out, "\n")
		var task struct {
			TaskARN    string
			Containers []struct {
				Name, DockerId string
				Networks       []struct{ NetworkMode, IPv4SubnetCIDRBlock string }
			}
		}
		if err := json.Unmarshal([]byte(doc), &task); err != nil {
			t.Fatalf("the %s task's container printed %q, not its task's document: %v", c.mode, out, err)
		}
		if task.TaskARN != c.arn || len(task.Containers) != 1 || task.Containers[0].Name != "app" || task.Containers[0].DockerId != first.e.containerID(c.arn, "app") ||
			len(task.Containers[0].Networks) != 1 || task.Containers[0].Networks[0].NetworkMode != c.mode {
			t.Fatalf("the %s task's container read %s", c.mode, doc)
		}
		if c.mode == "awsvpc" && task.Containers[0].Networks[0].IPv4SubnetCIDRBlock != subnet.String() {
			t.Errorf("the awsvpc task's network %+v; want its subnet %v", task.Containers[0].Networks[0], subnet)
		}
		if !strings.Contains(rest, "region=eu-west-1 exec=AWS_ECS_EC2") {
			t.Errorf("the %s task's container has %q; want AWS_REGION and AWS_EXECUTION_ENV set", c.mode, rest)
		}
		uris[c.arn] = containerEnv(t, rt, first.e.containerID(c.arn, "app"), "ECS_CONTAINER_METADATA_URI_V4")
	}
	wrong := uris[bridgeARN][:len(uris[bridgeARN])-40] + strings.Repeat("0", 40)
	if code, _ := fetch(t, wrong+"/task"); code != http.StatusNotFound {
		t.Errorf("a wrong id answers %d; want 404", code)
	}

	// The agent dies (nothing is stopped); another takes over the containers.
	first.stop()
	second := startMetadataAgent(t, rt, dir, true)
	second.e.Apply([]acsmsg.Task{bridgeTask, hostTask, vpcTask})
	for arn, uri := range uris {
		if code, body := fetch(t, uri+"/task"); code != http.StatusOK || !strings.Contains(body, `"TaskARN":"`+arn+`"`) {
			t.Errorf("after the restart %s/task answers %d %s; want 200 naming %s", uri, code, body, arn)
		}
	}
}

// printed waits for the task's container app to have printed two lines.
func printed(t *testing.T, rt *docker.Runtime, e *Engine, arn string) string {
	t.Helper()
	var out bytes.Buffer
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		id := e.containerID(arn, "app")
		if id == "" {
			continue
		}
		rc, err := rt.Client().ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			continue
		}
		out.Reset()
		stdcopy.StdCopy(&out, &out, rc)
		rc.Close()
		if strings.Count(out.String(), "\n") >= 2 {
			return out.String()
		}
	}
	t.Fatalf("the task's container printed %q", out.String())
	return ""
}

// containerEnv is one variable of a container's environment.
func containerEnv(t *testing.T, rt *docker.Runtime, id, name string) string {
	t.Helper()
	c, err := rt.Client().ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range c.Config.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	t.Fatalf("container %s has no %s: %q", id, name, c.Config.Env)
	return ""
}

// fetch GETs url from the host.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

// containerID is a container's Docker id, "" before it is created.
func (e *Engine) containerID(arn, name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tasks[arn]; t != nil {
		if c := t.container(name); c != nil {
			return c.id
		}
	}
	return ""
}
