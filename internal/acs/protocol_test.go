package acs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	"github.com/berth-project/berth/api/tcs"
	"github.com/berth-project/berth/internal/berthtest"
)

var creds = aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}

// fakeAgent is the protocol side of an agent, driven by the test.
type fakeAgent struct {
	t    *testing.T
	conn *protocol.Conn
}

func dialACS(t *testing.T, endpoint, cluster, instanceARN string) *fakeAgent {
	t.Helper()
	q := url.Values{"clusterArn": {cluster}, "containerInstanceArn": {instanceARN}, "agentVersion": {"1.105.1"},
		"agentHash": {"a8b3e7d3"}, "dockerVersion": {"DockerVersion: 20.10.24"}, "protocolVersion": {"2"}, "sendCredentials": {"true"}, "seqNum": {"1"}}
	c, err := protocol.Dial(context.Background(), endpoint, q, creds, berthtest.Region)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeAgent{t: t, conn: c}
}

// next returns the next message of type typ, skipping heartbeats.
func (a *fakeAgent) next(typ string, into any) {
	a.t.Helper()
	a.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := a.conn.Read()
		if err != nil {
			a.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f.Type == typ {
			if err := json.Unmarshal(f.Message, into); err != nil {
				a.t.Fatal(err)
			}
			return
		}
		if f.Type != "HeartbeatMessage" {
			a.t.Fatalf("got %s while waiting for %s", f.Type, typ)
		}
	}
}

func TestAgentProtocol(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithTenantMetrics())
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lab")}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("lab"), TotalResources: []types.Resource{
		{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
		{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 4096},
	}, Attributes: []types.Attribute{ // what a health-checked task requires
		{Name: aws.String("ecs.capability.container-health-check")},
		{Name: aws.String("com.amazonaws.ecs.capability.docker-remote-api.1.24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	instanceARN := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64), Command: []string{"httpd", "-f"},
		HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}},
	}}}); err != nil {
		t.Fatal(err)
	}

	poll, err := c.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String("lab"), ContainerInstance: aws.String(instanceARN)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(poll.Endpoint) != srv.Endpoint()+"/acs" || aws.ToString(poll.TelemetryEndpoint) != srv.Endpoint()+"/tcs" {
		t.Fatalf("poll endpoints %s %s", aws.ToString(poll.Endpoint), aws.ToString(poll.TelemetryEndpoint))
	}

	agent := dialACS(t, aws.ToString(poll.Endpoint), "lab", instanceARN)
	describeInstance := func() types.ContainerInstance {
		t.Helper()
		out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("lab"), ContainerInstances: []string{instanceARN}})
		if err != nil {
			t.Fatal(err)
		}
		return out.ContainerInstances[0]
	}
	if ci := describeInstance(); !ci.AgentConnected || aws.ToString(ci.VersionInfo.AgentVersion) != "1.105.1" {
		t.Fatalf("after connecting: agentConnected %v version %+v", ci.AgentConnected, ci.VersionInfo)
	}

	var taskARN string
	t.Run("RunTask reaches the agent as a PayloadMessage, which it acknowledges", func(t *testing.T) {
		run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("lab"), TaskDefinition: aws.String("web"),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Command: []string{"sleep", "60"}}}}})
		if err != nil || len(run.Tasks) != 1 {
			t.Fatalf("RunTask: %v %+v", err, run)
		}
		taskARN = aws.ToString(run.Tasks[0].TaskArn)
		var p acsmsg.PayloadMessage
		agent.next("PayloadMessage", &p)
		if len(p.Tasks) != 1 || aws.ToString(p.Tasks[0].Arn) != taskARN || aws.ToString(p.Tasks[0].DesiredStatus) != "RUNNING" {
			t.Fatalf("payload %+v", p)
		}
		ct := p.Tasks[0].Containers[0]
		if len(ct.Command) != 2 || ct.Command[0] != "sleep" || ct.HealthCheckType != acsmsg.HealthCheckTypeDocker || ct.DockerConfig == nil {
			t.Fatalf("container as the agent sees it: %+v", ct)
		}
		if aws.ToString(p.ClusterArn) != "arn:aws:ecs:us-east-1:"+auth.DefaultAccountID+":cluster/lab" || aws.ToString(p.ContainerInstanceArn) != instanceARN {
			t.Fatalf("payload addressed to %s %s", aws.ToString(p.ClusterArn), aws.ToString(p.ContainerInstanceArn))
		}
		if err := agent.conn.Send("AckRequest", acsmsg.AckRequest{Cluster: p.ClusterArn, ContainerInstance: p.ContainerInstanceArn, MessageId: p.MessageId}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TCS health reports show in DescribeTasks, metrics on /metrics", func(t *testing.T) {
		if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("lab"), Task: aws.String(taskARN), Status: aws.String("RUNNING"),
			Containers: []types.ContainerStateChange{{ContainerName: aws.String("app"), Status: aws.String("RUNNING")}}}); err != nil {
			t.Fatal(err)
		}
		q := url.Values{"cluster": {"lab"}, "containerInstance": {instanceARN}, "agentVersion": {"1.105.1"}}
		tc, err := protocol.Dial(ctx, aws.ToString(poll.TelemetryEndpoint), q, creds, berthtest.Region)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		err = tc.Send("PublishHealthRequest", tcs.PublishHealthRequest{Tasks: []tcs.TaskHealth{{TaskArn: aws.String(taskARN),
			Containers: []tcs.ContainerHealth{{ContainerName: aws.String("app"), HealthStatus: tcs.HealthStatusHealthy}}}}})
		if err != nil {
			t.Fatal(err)
		}
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if f, err := tc.Read(); err != nil || f.Type != "AckPublishHealth" {
			t.Fatalf("TCS answer %+v %v", f, err)
		}
		err = tc.Send("PublishMetricsRequest", tcs.PublishMetricsRequest{TaskMetrics: []tcs.TaskMetric{{TaskArn: aws.String(taskARN), ContainerMetrics: []tcs.ContainerMetric{{
			ContainerName:  aws.String("app"),
			CpuStatsSet:    &tcs.CWStatsSet{Sum: aws.Float64(3), SampleCount: aws.Int32(2)},
			MemoryStatsSet: &tcs.CWStatsSet{Sum: aws.Float64(40), SampleCount: aws.Int32(2)},
		}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := tc.Read(); err != nil || f.Type != "AckPublishMetric" {
			t.Fatalf("TCS answer %+v %v", f, err)
		}
		resp, err := http.Get(srv.Endpoint() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `berth_container_memory_utilized_megabytes{account="` + auth.DefaultAccountID + `",cluster="lab",container="app",task="` + taskARN + `"} 20`
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("lab"), Tasks: []string{taskARN}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Tasks[0].HealthStatus != types.HealthStatusHealthy || out.Tasks[0].Containers[0].HealthStatus != types.HealthStatusHealthy {
			t.Fatalf("health %s / %s", out.Tasks[0].HealthStatus, out.Tasks[0].Containers[0].HealthStatus)
		}
	})

	t.Run("StopTask is the task re-sent with desiredStatus STOPPED, again after a reconnect until acknowledged", func(t *testing.T) {
		stopped, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("lab"), Task: aws.String(taskARN)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(stopped.Task.LastStatus) != "STOPPING" {
			t.Fatalf("a RUNNING task being stopped shows %s, want STOPPING", aws.ToString(stopped.Task.LastStatus))
		}
		var p acsmsg.PayloadMessage
		agent.next("PayloadMessage", &p)
		if len(p.Tasks) != 1 || aws.ToString(p.Tasks[0].DesiredStatus) != "STOPPED" {
			t.Fatalf("stop payload %+v", p)
		}
		agent.conn.Close() // no ack: the new session sends it again
		agent = dialACS(t, aws.ToString(poll.Endpoint), "lab", instanceARN)
		agent.next("PayloadMessage", &p)
		if len(p.Tasks) != 1 || aws.ToString(p.Tasks[0].DesiredStatus) != "STOPPED" {
			t.Fatalf("stop payload after reconnect %+v", p)
		}
	})

	t.Run("an agent for an unknown instance is refused", func(t *testing.T) {
		_, err := protocol.Dial(ctx, aws.ToString(poll.Endpoint), url.Values{"clusterArn": {"lab"}, "containerInstanceArn": {instanceARN + "0"}}, creds, berthtest.Region)
		if err == nil {
			t.Fatal("connected as an instance that does not exist")
		}
		_, err = protocol.Dial(ctx, aws.ToString(poll.Endpoint), url.Values{"clusterArn": {"lab"}, "containerInstanceArn": {instanceARN}},
			aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: "wrong"}, berthtest.Region)
		if err == nil {
			t.Fatal("connected with a wrong signature")
		}
	})

	t.Run("disconnecting marks the agent disconnected", func(t *testing.T) {
		agent.conn.Close()
		deadline := time.Now().Add(10 * time.Second)
		for describeInstance().AgentConnected {
			if time.Now().After(deadline) {
				t.Fatal("agentConnected still true after the agent left")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
