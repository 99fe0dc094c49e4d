package acs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/tcs"
	"github.com/berth-project/berth/internal/berthtest"
)

// A second account, besides the development one.
const (
	otherAccount = "111122223333"
	otherKeyID   = "AKIAOTHER00000000001"
	otherSecret  = "other-secret"
)

var otherCreds = aws.Credentials{AccessKeyID: otherKeyID, SecretAccessKey: otherSecret}

func withOtherAccount(t *testing.T) berthtest.Option {
	path := filepath.Join(t.TempDir(), "keys")
	body := "[other]\naws_access_key_id = " + otherKeyID + "\naws_secret_access_key = " + otherSecret + "\naccount_id = " + otherAccount + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return berthtest.WithCredentialsFile(path)
}

func metricsOf(taskARN, container string, memory float64) tcs.TaskMetric {
	return tcs.TaskMetric{TaskArn: aws.String(taskARN), ContainerMetrics: []tcs.ContainerMetric{{
		ContainerName:  aws.String(container),
		CpuStatsSet:    &tcs.CWStatsSet{Sum: aws.Float64(1), SampleCount: aws.Int32(1)},
		MemoryStatsSet: &tcs.CWStatsSet{Sum: aws.Float64(memory), SampleCount: aws.Int32(1)},
	}}}
}

func unhealthy(taskARN, container string) tcs.TaskHealth {
	return tcs.TaskHealth{TaskArn: aws.String(taskARN), Containers: []tcs.ContainerHealth{{ContainerName: aws.String(container), HealthStatus: tcs.HealthStatusUnhealthy}}}
}

func taskHealth(t *testing.T, c *ecs.Client, cluster, taskARN string) (types.HealthStatus, types.HealthStatus) {
	t.Helper()
	out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{taskARN}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v %+v", err, out)
	}
	return out.Tasks[0].HealthStatus, out.Tasks[0].Containers[0].HealthStatus
}

// An agent's telemetry counts only for the tasks of its own instance: not
// another account's task in a cluster of the same name, not another
// instance's task in its own cluster, not a container its task does not
// have. The rest is dropped and counted.
func TestAgentReportsOnlyForItsOwnInstancesTasks(t *testing.T) {
	srv := berthtest.Start(t, withOtherAccount(t), berthtest.WithTenantMetrics())
	own, other := srv.Client(), srv.ClientFor(otherKeyID, otherSecret, berthtest.Region)
	acs := srv.Endpoint() + "/acs"

	mine := registerInstance(t, own, "lab")
	neighbour := registerInstance(t, own, "lab")
	theirs := registerInstance(t, other, "lab")
	dialACSAs(t, acs, creds, "lab", mine)
	dialACSAs(t, acs, creds, "lab", neighbour)
	dialACSAs(t, acs, otherCreds, "lab", theirs)
	myTask := startTaskOn(t, own, "lab", mine, "app")
	neighbourTask := startTaskOn(t, own, "lab", neighbour, "app")
	theirTask := startTaskOn(t, other, "lab", theirs, "app")

	// The other account's own agent reports first.
	theirTCS := dialTCSAs(t, srv.Endpoint()+"/tcs", otherCreds, "lab", theirs)
	if err := theirTCS.conn.Send("PublishMetricsRequest", tcs.PublishMetricsRequest{TaskMetrics: []tcs.TaskMetric{metricsOf(theirTask, "app", 10)}}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	theirTCS.next("AckPublishMetric", &ack)

	agent := dialTCSAs(t, srv.Endpoint()+"/tcs", creds, "lab", mine)
	err := agent.conn.Send("PublishMetricsRequest", tcs.PublishMetricsRequest{TaskMetrics: []tcs.TaskMetric{
		metricsOf(myTask, "app", 30), metricsOf(neighbourTask, "app", 666), metricsOf(theirTask, "app", 666),
		metricsOf(myTask, "no-such-container", 666),
	}})
	if err != nil {
		t.Fatal(err)
	}
	agent.next("AckPublishMetric", &ack)
	err = agent.conn.Send("PublishHealthRequest", tcs.PublishHealthRequest{Tasks: []tcs.TaskHealth{
		unhealthy(neighbourTask, "app"), unhealthy(theirTask, "app"), unhealthy(myTask, "app"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	agent.next("AckPublishHealth", &ack)

	t.Run("metrics are kept for its own task only, by account", func(t *testing.T) {
		body := scrape(t, srv)
		lines := metricLines(body, "berth_container_memory_utilized_megabytes{")
		want := []struct{ task, account, value string }{{myTask, auth.DefaultAccountID, "30"}, {theirTask, otherAccount, "10"}}
		if len(lines) != len(want) {
			t.Fatalf("memory series %q, want one for each of %+v", lines, want)
		}
		for _, w := range want {
			found := false
			for _, l := range lines {
				found = found || strings.Contains(l, `task="`+w.task+`"`) && strings.Contains(l, `account="`+w.account+`"`) && strings.HasSuffix(l, " "+w.value)
			}
			if !found {
				t.Errorf("no series for %+v in %q", w, lines)
			}
		}
		if strings.Contains(strings.Join(lines, "\n"), " 666") {
			t.Errorf("a value reported for a task of another instance shows: %q", lines)
		}
	})
	t.Run("health is recorded for its own task only", func(t *testing.T) {
		if task, ctr := taskHealth(t, own, "lab", myTask); task != types.HealthStatusUnhealthy || ctr != types.HealthStatusUnhealthy {
			t.Errorf("own task: %s / %s, want UNHEALTHY", task, ctr)
		}
		if task, ctr := taskHealth(t, own, "lab", neighbourTask); task == types.HealthStatusUnhealthy || ctr == types.HealthStatusUnhealthy {
			t.Errorf("the neighbour instance's task took another agent's report: %s / %s", task, ctr)
		}
		if task, ctr := taskHealth(t, other, "lab", theirTask); task == types.HealthStatusUnhealthy || ctr == types.HealthStatusUnhealthy {
			t.Errorf("another account's task took the agent's report: %s / %s", task, ctr)
		}
	})
	t.Run("what was dropped is counted on /metrics", func(t *testing.T) {
		body := scrape(t, srv)
		for _, want := range []string{`berth_agent_reports_dropped_total{kind="metrics"} 3`, `berth_agent_reports_dropped_total{kind="health"} 2`} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s: %q", want, metricLines(body, "berth_agent_reports_dropped_total"))
			}
		}
	})
}

// /metrics takes no credentials: it names no tenant's tasks, clusters or
// containers unless the operator asks for the container metrics.
func TestTenantMetricsAreOptIn(t *testing.T) {
	publish := func(t *testing.T, opts ...berthtest.Option) (body, taskARN string) {
		srv := berthtest.Start(t, opts...)
		c := srv.Client()
		instanceARN := registerInstance(t, c, "tenant-cluster-name")
		dialACSAs(t, srv.Endpoint()+"/acs", creds, "tenant-cluster-name", instanceARN)
		taskARN = startTaskOn(t, c, "tenant-cluster-name", instanceARN, "tenant-container-name")
		agent := dialTCSAs(t, srv.Endpoint()+"/tcs", creds, "tenant-cluster-name", instanceARN)
		if err := agent.conn.Send("PublishMetricsRequest", tcs.PublishMetricsRequest{TaskMetrics: []tcs.TaskMetric{metricsOf(taskARN, "tenant-container-name", 30)}}); err != nil {
			t.Fatal(err)
		}
		var ack map[string]any
		agent.next("AckPublishMetric", &ack)
		return scrape(t, srv), taskARN
	}
	t.Run("by default no tenant identifier is on /metrics", func(t *testing.T) {
		body, taskARN := publish(t)
		for _, name := range []string{taskARN, "tenant-cluster-name", "tenant-container-name", auth.DefaultAccountID, "berth_container_"} {
			if strings.Contains(body, name) {
				t.Errorf("/metrics shows %s", name)
			}
		}
	})
	t.Run("with TenantMetrics the container metrics are there, with their account", func(t *testing.T) {
		body, taskARN := publish(t, berthtest.WithTenantMetrics())
		want := `berth_container_memory_utilized_megabytes{account="` + auth.DefaultAccountID + `",cluster="tenant-cluster-name",container="tenant-container-name",task="` + taskARN + `"} 30`
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s: %q", want, metricLines(body, "berth_container_"))
		}
	})
}
