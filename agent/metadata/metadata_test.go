package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

const taskARN = "arn:aws:ecs:us-east-1:123456789012:task/dev/0123456789abcdef"

type tasks []Task

func (t tasks) Tasks() []Task { return t }

type engine struct{}

func (engine) ContainerDetails(ctx context.Context, id string) (docker.Details, error) {
	if id == "gone" {
		return docker.Details{}, docker.ErrNotFound
	}
	return docker.Details{ImageID: "sha256:img", Addresses: map[string]string{"bridge": "172.17.0.9"}}, nil
}

func (engine) Stats(ctx context.Context, id string) (json.RawMessage, error) {
	if id == "gone" {
		return nil, errors.New("no such container")
	}
	return json.RawMessage(`{"id":"` + id + `","memory_stats":{"usage":1}}`), nil
}

func open(t *testing.T, dir string, src Source) *Server {
	t.Helper()
	s, err := Open(Config{DataDir: dir, Address: netip.MustParseAddr("127.0.0.1"), Region: "eu-west-1", Capacity: "FARGATE", AvailabilityZone: "eu-west-1a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx, src, engine{}) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func payload() *acsmsg.Task {
	return &acsmsg.Task{Arn: ecs.Ptr(taskARN), Containers: []acsmsg.Container{
		{Name: ecs.Ptr("app")}, {Name: ecs.Ptr("own"), Environment: map[string]string{"AWS_DEFAULT_REGION": "ap-south-1"}}}}
}

func awsvpcTask() Task {
	return Task{ARN: taskARN, Cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/dev", Family: "web", Revision: "3",
		DesiredStatus: "RUNNING", KnownStatus: "RUNNING", NetworkMode: "awsvpc", LaunchType: "FARGATE",
		Interface:  &Interface{Address: "10.239.5.4", MAC: "02:42:0a:ef:05:04", SubnetCIDR: "10.239.5.0/24", Gateway: "10.239.5.1/24", PrivateDNSName: "ip-10-239-5-4.ec2.internal"},
		Containers: []Container{{Name: "app", DockerID: "d1", Image: "busybox", KnownStatus: "RUNNING", CPU: 256}, {Name: "side", DockerID: "gone"}}}
}

func TestEveryContainerGetsItsURIsRegionAndExecutionEnvironment(t *testing.T) {
	s := open(t, t.TempDir(), tasks{})
	always, defaults := s.Environment(payload(), "app")
	id := s.ID(taskARN, "app")
	if always["ECS_CONTAINER_METADATA_URI_V4"] != s.URL()+"/v4/"+id || always["ECS_CONTAINER_METADATA_URI"] != s.URL()+"/v3/"+id {
		t.Fatalf("URIs %v; want %s/v{3,4}/%s", always, s.URL(), id)
	}
	if defaults["AWS_REGION"] != "eu-west-1" || defaults["AWS_DEFAULT_REGION"] != "eu-west-1" || defaults["AWS_EXECUTION_ENV"] != "AWS_ECS_FARGATE" {
		t.Fatalf("defaults %v", defaults)
	}
	if _, defaults := s.Environment(payload(), "own"); defaults["AWS_REGION"] != "" {
		t.Fatalf("a container naming AWS_DEFAULT_REGION is given AWS_REGION %q; the stock agent leaves both", defaults["AWS_REGION"])
	}
	if s.ID(taskARN, "other") == id || len(id) != 40 {
		t.Fatalf("ids %q and %q", id, s.ID(taskARN, "other"))
	}
}

func TestARestartedEndpointAnswersTheSameURIs(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(Config{DataDir: dir, Address: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	url, id := first.URL(), first.ID(taskARN, "app")
	first.Close()
	second := open(t, dir, tasks{awsvpcTask()})
	if second.URL() != url || second.ID(taskARN, "app") != id {
		t.Fatalf("after a restart %s and id %s; before %s and %s", second.URL(), second.ID(taskARN, "app"), url, id)
	}
	if code, body := get(t, "GET", url+"/v4/"+id); code != 200 || !strings.Contains(body, `"Name":"app"`) {
		t.Fatalf("GET after the restart: %d %s", code, body)
	}
}

func TestTheDocumentsAreECSsShapes(t *testing.T) {
	s := open(t, t.TempDir(), tasks{awsvpcTask()})
	uri := s.URL() + "/v4/" + s.ID(taskARN, "app")
	var doc struct {
		TaskARN, Cluster, Family, Revision, KnownStatus, AvailabilityZone, LaunchType string
		FaultInjectionEnabled                                                         *bool
		Containers                                                                    []struct {
			Name, DockerId, ImageID string
			Limits                  struct{ CPU float64 }
			Networks                []map[string]any
		}
	}
	code, body := get(t, "GET", uri+"/task")
	if code != 200 {
		t.Fatalf("GET task: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.TaskARN != taskARN || doc.Family != "web" || doc.Revision != "3" || doc.AvailabilityZone != "eu-west-1a" || doc.LaunchType != "FARGATE" ||
		doc.FaultInjectionEnabled == nil || len(doc.Containers) != 2 || doc.Containers[0].ImageID != "sha256:img" || doc.Containers[0].Limits.CPU != 256 {
		t.Fatalf("task document %s", body)
	}
	n := doc.Containers[0].Networks[0]
	want := map[string]any{"NetworkMode": "awsvpc", "IPv4Addresses": []any{"10.239.5.4"}, "AttachmentIndex": 0.0, "MACAddress": "02:42:0a:ef:05:04",
		"IPv4SubnetCIDRBlock": "10.239.5.0/24", "SubnetGatewayIpv4Address": "10.239.5.1/24", "PrivateDNSName": "ip-10-239-5-4.ec2.internal"}
	if b1, b2 := mustJSON(n), mustJSON(want); b1 != b2 {
		t.Fatalf("v4 network %s; want %s", b1, b2)
	}
	if _, body := get(t, "GET", s.URL()+"/v3/"+s.ID(taskARN, "app")); strings.Contains(body, "MACAddress") || !strings.Contains(body, `"IPv4Addresses":["10.239.5.4"]`) {
		t.Fatalf("v3 container document %s: v3 has no interface properties", body)
	}
	if _, body := get(t, "GET", uri+"/stats"); body != `{"id":"d1","memory_stats":{"usage":1}}` {
		t.Fatalf("stats %s", body)
	}
	if _, body := get(t, "GET", uri+"/task/stats"); body != `{"d1":{"id":"d1","memory_stats":{"usage":1}},"gone":null}` {
		t.Fatalf("task stats %s", body)
	}
}

func TestOnlyAnIDsOwnTaskIsAnswered(t *testing.T) {
	s := open(t, t.TempDir(), tasks{awsvpcTask()})
	id := s.ID(taskARN, "app")
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v4/" + strings.Repeat("0", 40) + "/task", 404},
		{"GET", "/v4/" + s.ID(taskARN, "nosuch"), 404},
		{"GET", "/v4/" + id[:39], 404},
		{"GET", "/v2/" + id, 404},
		{"GET", "/v4/" + id + "/nosuch", 404},
		{"GET", "/v4/" + id + "/" + strings.Repeat("x", 200), 404},
		{"POST", "/v4/" + id + "/task", 405},
		{"GET", "/", 404},
	} {
		if code, body := get(t, c.method, s.URL()+c.path); code != c.want {
			t.Errorf("%s %s: %d %s; want %d", c.method, c.path, code, body, c.want)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
