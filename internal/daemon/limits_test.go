package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/agent/protocol"
	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/daemon"
)

func withReadTimeout(d time.Duration) berthtest.Option {
	return func(c *daemon.Config) { c.ReadTimeout = d }
}

// A client that sends part of a request and stops has its connection
// closed once the read timeout passes, instead of holding it for ever.
func TestHalfSentRequestsAreCut(t *testing.T) {
	srv := berthtest.Start(t, withReadTimeout(300*time.Millisecond))
	addr := strings.TrimPrefix(srv.Endpoint(), "http://")
	for name, partial := range map[string]string{
		"headers": "POST / HTTP/1.1\r\nHost: " + addr + "\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n",
		"body": "POST / HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-amz-json-1.1\r\n" +
			"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Length: 100\r\n\r\n{\"a",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, partial); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn) // whatever the server answers, then EOF
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server still holds the connection of a half-sent request")
			}
		})
	}
	t.Run("an oversized header block is refused", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", addr, strings.Repeat("a", 200<<10))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if !strings.Contains(line, " 431 ") {
			t.Fatalf("answered %q, want 431", line)
		}
	})
}

// The agent's websocket outlives the server's read and write timeouts (it
// is hijacked), and a timestamp that cannot be stored is a 400
// SerializationException, not a dropped connection.
func TestAgentSessionsOutliveTimeoutsAndTimestampsAreRangeChecked(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, withReadTimeout(300*time.Millisecond))
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lab")}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("lab"), TotalResources: []types.Resource{
		{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
		{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 4096},
	}})
	if err != nil {
		t.Fatal(err)
	}
	instanceARN := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64),
	}}}); err != nil {
		t.Fatal(err)
	}
	poll, err := c.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String("lab"), ContainerInstance: aws.String(instanceARN)})
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
	q := url.Values{"clusterArn": {"lab"}, "containerInstanceArn": {instanceARN}, "agentVersion": {"1.105.1"}, "protocolVersion": {"2"}, "seqNum": {"1"}}
	agent, err := protocol.Dial(ctx, aws.ToString(poll.Endpoint), q, creds, berthtest.Region)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()

	time.Sleep(time.Second) // over three read timeouts
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("lab"), TaskDefinition: aws.String("web")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask with the agent connected for a while: %v %+v", err, run)
	}
	taskARN := aws.ToString(run.Tasks[0].TaskArn)
	agent.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := agent.Read()
		if err != nil {
			t.Fatalf("the session ended: %v", err)
		}
		if f.Type == "PayloadMessage" {
			break
		}
	}
	if err := agent.Send("HeartbeatAckRequest", acsmsg.HeartbeatAckRequest{MessageId: aws.String("m")}); err != nil {
		t.Fatal(err)
	}

	const target = "AmazonEC2ContainerServiceV20141113.SubmitTaskStateChange"
	for _, ts := range []string{`"executionStoppedAt":1e300`, `"executionStoppedAt":-1e18`, `"pullStartedAt":1e300`,
		`"containers":[{"containerName":"app","status":"STOPPED"}],"pullStoppedAt":-1e18`} {
		body := fmt.Sprintf(`{"cluster":"lab","task":%q,"status":"STOPPED",%s}`, taskARN, ts)
		status, _, answer := send(t, srv.Endpoint(), target, []byte(body))
		if status != 400 || answer["__type"] != "SerializationException" {
			t.Fatalf("%s: %d %v, want 400 SerializationException", ts, status, answer)
		}
	}
	// The task is unharmed, and a timestamp in range is still taken.
	if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("lab"), Task: aws.String(taskARN),
		Status: aws.String("RUNNING"), PullStartedAt: aws.Time(time.Now())}); err != nil {
		t.Fatal(err)
	}
}

// A filter is refused by length before it is parsed (ECS's 2000
// characters of a placement expression), and nesting is bounded.
func TestListContainerInstancesFilterIsBounded(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lab")}); err != nil {
		t.Fatal(err)
	}
	const leaf = "attribute:stack == prod"
	for _, tc := range []struct{ filter, msg string }{
		{strings.Repeat("(", 1_000_000), "longer than 2000 characters"},
		{strings.Repeat("(", 2001), "longer than 2000 characters"},
		{strings.Repeat("(", 101) + leaf + strings.Repeat(")", 101), "nests more than 100 levels"},
	} {
		_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("lab"), Filter: aws.String(tc.filter)})
		var e *types.InvalidParameterException
		if !errors.As(err, &e) || !strings.Contains(e.ErrorMessage(), tc.msg) {
			t.Fatalf("%.20s... (%d characters): %v, want InvalidParameterException saying %q", tc.filter, len(tc.filter), err, tc.msg)
		}
	}
	ok := strings.Repeat("(", 100) + leaf + strings.Repeat(")", 100)
	if _, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("lab"), Filter: aws.String(ok)}); err != nil {
		t.Fatal(err)
	}
}
