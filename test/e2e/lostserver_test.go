package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/store"
)

// startReplica runs `berth server` on the shared etcd at endpoints and
// waits until it serves; it is killed when the test ends, and its output
// shown when the test failed.
func startReplica(t *testing.T, bin, name, endpoints string, extra ...string) (*process, string) {
	t.Helper()
	addr := freePort(t)
	args := append([]string{bin, "server", "--listen", addr, "--data-dir", t.TempDir(), "--etcd-endpoints", endpoints}, extra...)
	p := &process{t: t, args: args, home: t.TempDir()}
	p.start()
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			t.Logf("server %s's output:\n%s", name, p.logs.String())
		}
	})
	waitHealthy(t, "http://"+addr, p)
	return p, "http://" + addr
}

// pollUntil polls ok every 100ms until it holds, and answers how long that
// took (a wait for an event, not a timing assertion: the bound only ends a
// hang).
func pollUntil(t *testing.T, what string, bound time.Duration, ok func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < bound {
		var done bool
		if done, last = ok(); done {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v; last seen: %s", what, bound, last)
	return 0
}

// Two `berth server` replicas share an etcd that runs in the test process
// (the server killed must not host it). A simulated agent is connected to
// server A, running a RunTask task and a service's two tasks; A is killed
// with SIGKILL, so nothing marks its agent disconnected. Through B: the
// instance shows agentConnected false once A's liveness lease runs out,
// and --agent-lost-after later its RunTask task is STOPPED with the
// instance's resources back, and the service's tasks run again on an
// instance connected to B.
func TestAgentsOfAKilledServerAreLost(t *testing.T) {
	ctx := context.Background()
	bin := buildBerth(t)
	etcd, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	endpoints := strings.Join(etcd.Endpoints(), ",")
	a, endpointA := startReplica(t, bin, "A", endpoints, "--agent-lost-after", "3s")
	_, endpointB := startReplica(t, bin, "B", endpoints, "--agent-lost-after", "3s")
	c := sdk(endpointB)

	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lost")}); err != nil {
		t.Fatal(err)
	}
	register(t, c, "app", busybox("app", "sleep", "3600"))
	simulateFleet(t, &server{t: t, bin: bin, endpoint: endpointA}, "--cluster", "lost", "--instances", "1", "--memory", "4096")
	// B serves from its own watch of etcd: wait until it sees the agent
	// A has just marked connected, or B's placement finds no instance.
	var onA string
	pollUntil(t, "B sees the instance of A's agent connected", time.Minute, func() (bool, string) {
		list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("lost")})
		if err != nil || len(list.ContainerInstanceArns) != 1 {
			return false, fmt.Sprint(list, err)
		}
		onA = list.ContainerInstanceArns[0]
		ci, err := describeInstance(c, onA)
		return err == nil && ci.AgentConnected, fmt.Sprint(err)
	})
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("lost"), TaskDefinition: aws.String("app")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	runTask := aws.ToString(run.Tasks[0].TaskArn)
	pollUntil(t, "the RunTask task RUNNING", time.Minute, func() (bool, string) { return taskIs(c, runTask, "RUNNING") })
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("lost"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	first := serviceTasksOn(t, c, 2, "the service's tasks RUNNING on A's instance")
	for _, tk := range first {
		if aws.ToString(tk.ContainerInstanceArn) != onA {
			t.Fatalf("service task on %s, want %s (the only instance)", aws.ToString(tk.ContainerInstanceArn), onA)
		}
	}
	simulateFleet(t, &server{t: t, bin: bin, endpoint: endpointB}, "--cluster", "lost", "--instances", "1", "--memory", "4096")

	a.kill9()
	killed := time.Now()

	disconnected := pollUntil(t, "A's instance shows agentConnected false", time.Minute, func() (bool, string) {
		ci, err := describeInstance(c, onA)
		if err != nil {
			return false, err.Error()
		}
		return !ci.AgentConnected, fmt.Sprintf("agentConnected %v", ci.AgentConnected)
	})
	stopped := pollUntil(t, "the RunTask task STOPPED", time.Minute, func() (bool, string) { return taskIs(c, runTask, "STOPPED") }) + disconnected
	out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("lost"), Tasks: []string{runTask}})
	if err != nil {
		t.Fatal(err)
	}
	const reason = "Task stopped because its container instance's agent has been disconnected for more than 3s."
	if task := out.Tasks[0]; task.StopCode != types.TaskStopCodeInfrastructureHealth || aws.ToString(task.StoppedReason) != reason {
		t.Fatalf("the RunTask task: %s", describe(task))
	}
	ci, err := describeInstance(c, onA)
	if err != nil {
		t.Fatal(err)
	}
	if remaining, registered := memoryOf(ci.RemainingResources), memoryOf(ci.RegisteredResources); remaining != registered {
		t.Fatalf("A's instance: %d of %d MiB remaining; its tasks' resources were not given back", remaining, registered)
	}

	replaced := pollUntil(t, "the service's tasks replaced on B's instance", time.Minute, func() (bool, string) {
		var on []string
		for _, tk := range serviceTasksNow(c) {
			if aws.ToString(tk.LastStatus) == "RUNNING" && aws.ToString(tk.DesiredStatus) == "RUNNING" {
				if aws.ToString(tk.ContainerInstanceArn) == onA {
					return false, "a task still RUNNING on A's instance"
				}
				on = append(on, aws.ToString(tk.ContainerInstanceArn))
			}
		}
		return len(on) == 2, fmt.Sprintf("RUNNING on %v", on)
	}) + stopped
	arns := []string{aws.ToString(first[0].TaskArn), aws.ToString(first[1].TaskArn)}
	old, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("lost"), Tasks: arns})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range old.Tasks {
		if aws.ToString(task.LastStatus) != "STOPPED" || task.StopCode != types.TaskStopCodeServiceSchedulerInitiated || aws.ToString(task.StoppedReason) != reason {
			t.Fatalf("a service task of A's instance: %s", describe(task))
		}
	}
	t.Logf("after kill -9 of server A: agentConnected false after %v, RunTask task STOPPED after %v, service tasks replaced after %v (total %v)",
		disconnected.Round(time.Millisecond), stopped.Round(time.Millisecond), replaced.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
}

// taskIs: is the task of the cluster "lost" in lastStatus status?
func taskIs(c *ecs.Client, arn, status string) (bool, string) {
	out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("lost"), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		return false, fmt.Sprint(err)
	}
	return aws.ToString(out.Tasks[0].LastStatus) == status, describe(out.Tasks[0])
}

func describeInstance(c *ecs.Client, arn string) (types.ContainerInstance, error) {
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String("lost"), ContainerInstances: []string{arn}})
	if err != nil {
		return types.ContainerInstance{}, err
	}
	if len(out.ContainerInstances) != 1 {
		return types.ContainerInstance{}, fmt.Errorf("describe %s: %+v", arn, out.Failures)
	}
	return out.ContainerInstances[0], nil
}

func memoryOf(rs []types.Resource) int32 {
	for _, r := range rs {
		if aws.ToString(r.Name) == "MEMORY" {
			return r.IntegerValue
		}
	}
	return -1
}

// serviceTasksNow describes the tasks of the service "web" that are to run.
func serviceTasksNow(c *ecs.Client) []types.Task {
	ctx := context.Background()
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("lost"), ServiceName: aws.String("web")})
	if err != nil || len(list.TaskArns) == 0 {
		return nil
	}
	out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("lost"), Tasks: list.TaskArns})
	if err != nil {
		return nil
	}
	return out.Tasks
}

// serviceTasksOn waits until n tasks of the service "web" are RUNNING.
func serviceTasksOn(t *testing.T, c *ecs.Client, n int, what string) []types.Task {
	t.Helper()
	var running []types.Task
	pollUntil(t, what, time.Minute, func() (bool, string) {
		running = running[:0]
		for _, tk := range serviceTasksNow(c) {
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				running = append(running, tk)
			}
		}
		return len(running) == n, fmt.Sprintf("%d RUNNING", len(running))
	})
	return running
}
