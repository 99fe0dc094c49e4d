package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
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

// The engine over the real Docker Engine, with an awsvpc task as the
// control plane sends one: a web server and a client that reaches it on
// localhost, both in the namespace of a pause container at the payload's
// address, which the host (this test) reaches on the server's port.

// recorder is a control plane that takes every report.
type recorder struct {
	mu      sync.Mutex
	reports []Report
}

func (r *recorder) report(ctx context.Context, rep Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return nil
}

// wait waits for a report that cond accepts; the deadline only ends a
// test that went wrong.
func (r *recorder) wait(t *testing.T, what string, cond func(Report) bool) Report {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r.mu.Lock()
		for _, rep := range r.reports {
			if cond(rep) {
				r.mu.Unlock()
				return rep
			}
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no report %s; reports: %+v", what, r.reports)
	return Report{}
}

func TestAnAWSVPCTaskOnDocker(t *testing.T) {
	rt := dockertest.Runtime(t)
	dockertest.Busybox(t, rt)
	ctx := context.Background()
	subnet := dockertest.Subnet(t, rt)
	arn := dockertest.TaskARN()
	dockertest.RemoveTask(t, rt, arn)
	base := subnet.Addr().As4()
	addr := netip.AddrFrom4([4]byte{base[0], base[1], base[2], 4})

	web := acsmsg.Container{Name: ecs.Ptr("web"), Image: ecs.Ptr(dockertest.BusyboxImage), StopTimeout: ecs.Ptr(int32(2)),
		Command: []string{"/bin/sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"}}
	// The client reaches web on localhost: they share the pause's namespace.
	client := acsmsg.Container{Name: ecs.Ptr("client"), Image: ecs.Ptr(dockertest.BusyboxImage), Essential: ecs.Ptr(false),
		DependsOn: []acsmsg.ContainerDependency{{ContainerName: ecs.Ptr("web"), Condition: acsmsg.ContainerConditionStart}},
		Command:   []string{"/bin/sh", "-c", "until /bin/busybox wget -q -O - http://localhost:8080/ | /bin/busybox grep -q 'hello from web'; do /bin/busybox sleep 0.2; done"}}
	tk := acsmsg.Task{Arn: ecs.Ptr(arn), Family: ecs.Ptr("vpc"), Version: ecs.Ptr("1"), DesiredStatus: ecs.Ptr(statusRunning),
		NetworkMode: ecs.Ptr("awsvpc"), Containers: []acsmsg.Container{web, client},
		ElasticNetworkInterfaces: []acsmsg.ElasticNetworkInterface{{
			AttachmentArn: ecs.Ptr(testAttachARN), Ec2Id: ecs.Ptr("eni-0123456789abcdef0"), MacAddress: ecs.Ptr(fmt.Sprintf("02:42:0a:ef:%02x:04", base[2])),
			Ipv4Addresses:            []acsmsg.IPv4AddressAssignment{{Primary: ecs.Ptr(true), PrivateAddress: ecs.Ptr(addr.String())}},
			SubnetGatewayIpv4Address: ecs.Ptr(fmt.Sprintf("10.239.%d.1/24", base[2])), PrivateDnsName: ecs.Ptr("ip-10-239-x-4.ec2.internal"),
		}}}
	t.Cleanup(func() {
		if ref, err := rt.PauseImage(ctx); err == nil {
			rt.Client().ImageRemove(ctx, ref, image.RemoveOptions{})
		}
	})

	// The first agent starts the task, then dies without stopping anything
	// (its context ends, as with kill -9: no container is touched).
	rec := &recorder{}
	first, stopFirst := context.WithCancel(ctx)
	e := New(rt, testCluster, testInstance, rec.report, slog.New(slog.DiscardHandler))
	go e.Run(first)
	e.Apply([]acsmsg.Task{tk})
	running := rec.wait(t, "RUNNING", func(r Report) bool { return r.Status == statusRunning })
	rec.wait(t, "of the client, having reached web on localhost", func(r Report) bool {
		return statuses(r)["client"] == "STOPPED:0"
	})
	get(t, "http://"+addr.String()+":8080/")
	pauseID := e.pauseID(arn)
	stopFirst()

	// The second agent adopts the task with its network, as it is.
	rec2 := &recorder{}
	e2 := New(rt, testCluster, testInstance, rec2.report, slog.New(slog.DiscardHandler))
	if err := e2.Adopt(ctx); err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(ctx)
	defer stop()
	go e2.Run(run)
	e2.Apply([]acsmsg.Task{tk})
	adopted := rec2.wait(t, "RUNNING after the restart", func(r Report) bool { return r.Status == statusRunning })
	if runtimeID(adopted, "web") != runtimeID(running, "web") || e2.pauseID(arn) != pauseID {
		t.Fatalf("the restarted agent runs web %s in pause %s; want the first agent's %s in %s",
			runtimeID(adopted, "web"), e2.pauseID(arn), runtimeID(running, "web"), pauseID)
	}
	get(t, "http://"+addr.String()+":8080/")

	e2.Apply([]acsmsg.Task{stopped(tk)})
	final := rec2.wait(t, "STOPPED", func(r Report) bool { return r.Status == statusStopped })
	if len(final.Attachments) != 1 || final.Attachments[0].Status != attachmentDetached {
		t.Errorf("the STOPPED report's attachments: %+v; want the attachment DETACHED", final.Attachments)
	}
	if _, err := rt.Client().ContainerInspect(ctx, pauseID); !errdefs.IsNotFound(err) {
		t.Errorf("the pause container is left after the task stopped: %v", err)
	}
	st, err := rt.Inspect(ctx, runtimeID(running, "web"))
	if err != nil || st.Running {
		t.Errorf("web after the task stopped: running %v (%v)", st.Running, err)
	}
	if _, err := rt.Client().NetworkInspect(ctx, docker.NetworkName(subnet), network.InspectOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("the subnet's network outlived the last task on it: %v", err)
	}
}

// get fetches url from the host and wants web's page.
func get(t *testing.T, url string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("the host does not reach the task: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "hello from web\n" {
		t.Fatalf("GET %s: %s %q", url, resp.Status, body)
	}
}

// pauseID is the task's pause container, for tests.
func (e *Engine) pauseID(arn string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tasks[arn]; t != nil {
		return t.sandboxID()
	}
	return ""
}
