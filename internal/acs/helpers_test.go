package acs_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/gorilla/websocket"

	"github.com/berth-project/berth/agent/protocol"
	"github.com/berth-project/berth/internal/berthtest"
)

// registerInstance creates the cluster (again is harmless) and registers
// an instance with room for a few tasks.
func registerInstance(t *testing.T, c *ecs.Client, cluster string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(cluster), TotalResources: []types.Resource{
		{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
		{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 4096},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
}

// startTaskOn starts a one-container task on the instance (whose agent
// must be connected) and returns its ARN.
func startTaskOn(t *testing.T, c *ecs.Client, cluster, instanceARN, container string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("family-" + container), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String(container), Image: aws.String("busybox"), Memory: aws.Int32(64),
	}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("family-" + container), ContainerInstances: []string{instanceARN}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("StartTask: %v %+v", err, out)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

// dialACSAs opens an ACS session signed with creds.
func dialACSAs(t *testing.T, endpoint string, creds aws.Credentials, cluster, instanceARN string) *fakeAgent {
	t.Helper()
	q := url.Values{"clusterArn": {cluster}, "containerInstanceArn": {instanceARN}, "agentVersion": {"1.105.1"}, "protocolVersion": {"2"}, "seqNum": {"1"}}
	c, err := protocol.Dial(context.Background(), endpoint, q, creds, berthtest.Region)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeAgent{t: t, conn: c}
}

// dialTCSAs opens a TCS session signed with creds.
func dialTCSAs(t *testing.T, endpoint string, creds aws.Credentials, cluster, instanceARN string) *fakeAgent {
	t.Helper()
	q := url.Values{"cluster": {cluster}, "containerInstance": {instanceARN}, "agentVersion": {"1.105.1"}}
	c, err := protocol.Dial(context.Background(), endpoint, q, creds, berthtest.Region)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeAgent{t: t, conn: c}
}

// closedBy reads until the server ends the session and returns its close
// frame; any frame of a type in refuse fails the test (a heartbeat or a
// manifest may come first).
func (a *fakeAgent) closedBy(refuse ...string) *websocket.CloseError {
	a.t.Helper()
	a.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		f, err := a.conn.Read()
		if err == nil {
			for _, typ := range refuse {
				if f.Type == typ {
					a.t.Fatalf("a replaced session got a %s", f.Type)
				}
			}
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			a.t.Fatal("the server kept the session open")
		}
		a.t.Fatalf("the session ended without a close frame: %v", err)
		return nil
	}
}

// scrape returns the text of the server's /metrics.
func scrape(t *testing.T, srv *berthtest.Server) string {
	t.Helper()
	resp, err := http.Get(srv.Endpoint() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// describeInstance is the instance as DescribeContainerInstances shows it.
func describeInstance(t *testing.T, c *ecs.Client, cluster, instanceARN string) types.ContainerInstance {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{instanceARN}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances: %v %+v", err, out)
	}
	return out.ContainerInstances[0]
}

// eventually waits, with a generous deadline, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 20 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricLines(body, name string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return out
}
