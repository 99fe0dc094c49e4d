package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

func remainingMemory(t *testing.T, c *ecs.Client, cluster, instance string) (remaining, registered int32, connected bool) {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{instance}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe instance %s: %v %+v", instance, err, out)
	}
	ci := out.ContainerInstances[0]
	for _, r := range ci.RemainingResources {
		if aws.ToString(r.Name) == "MEMORY" {
			remaining = r.IntegerValue
		}
	}
	for _, r := range ci.RegisteredResources {
		if aws.ToString(r.Name) == "MEMORY" {
			registered = r.IntegerValue
		}
	}
	return remaining, registered, ci.AgentConnected
}

// When an instance's agent is gone for longer than the server's
// --agent-lost-after, the service's tasks there are recorded STOPPED, their
// resources given back, and replacements run elsewhere.
func TestServiceReplacesTheTasksOfALostAgent(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithAgentLostAfter(time.Second))
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lost")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
		t.Fatal(err)
	}
	gone := srv.Simulate(simulate.Config{Cluster: "lost", Instances: 1, CPU: 4096, Memory: 4096, Zones: []string{"a"}})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("lost"), ServiceName: aws.String("web"), TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "lost", "web")
	oldInstance := gone.Instances[0].ARN
	first, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("lost"), ServiceName: aws.String("web")})
	if err != nil || len(first.TaskArns) != 2 {
		t.Fatalf("first tasks: %v %v", first, err)
	}
	if by := tasksByInstance(t, c, "lost", "web"); by[oldInstance] != 2 {
		t.Fatalf("first tasks by instance: %v", by)
	}

	takeover := srv.Simulate(simulate.Config{Cluster: "lost", Instances: 1, CPU: 4096, Memory: 4096, Zones: []string{"b"}})
	gone.Close()

	waitUntil(t, "the lost tasks STOPPED", func() bool {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("lost"), Tasks: first.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range out.Tasks {
			if aws.ToString(task.LastStatus) != "STOPPED" {
				return false
			}
			if task.StopCode != types.TaskStopCodeServiceSchedulerInitiated ||
				aws.ToString(task.StoppedReason) != "Task stopped because its container instance's agent has been disconnected for more than 1s." {
				t.Fatalf("lost task stopped with %s: %s", task.StopCode, aws.ToString(task.StoppedReason))
			}
		}
		return true
	})
	waitStable(t, c, "lost", "web")
	if by := tasksByInstance(t, c, "lost", "web"); by[takeover.Instances[0].ARN] != 2 || len(by) != 1 {
		t.Fatalf("tasks by instance after the agent was lost: %v", by)
	}
	remaining, registered, connected := remainingMemory(t, c, "lost", oldInstance)
	if connected || remaining != registered {
		t.Fatalf("the lost instance: agent connected %v, memory %d of %d remaining (its tasks' resources not given back)", connected, remaining, registered)
	}
	s := describeService(t, c, "lost", "web")
	if !hasEvent(s, "(service web) has stopped 2 running tasks:") || s.RunningCount != 2 {
		t.Fatalf("service after the lost agent: running %d, events %+v", s.RunningCount, s.Events)
	}
	for _, e := range s.Events {
		if msg := aws.ToString(e.Message); strings.Contains(msg, "has stopped") && !strings.Contains(msg, "2 running tasks") {
			t.Fatalf("unexpected stop event: %s", msg)
		}
	}
}

// Deregistering an instance with force gives up on the service tasks on it
// at once: they are recorded STOPPED and run again elsewhere.
func TestServiceReplacesTheTasksOfADeregisteredInstance(t *testing.T) {
	ctx := context.Background()
	srv, c := serviceFleet(t, "dereg", 0)
	first := srv.Simulate(simulate.Config{Cluster: "dereg", Instances: 1, CPU: 4096, Memory: 4096, Zones: []string{"a"}})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("dereg"), ServiceName: aws.String("web"), TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "dereg", "web")
	old, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("dereg"), ServiceName: aws.String("web")})
	if err != nil || len(old.TaskArns) != 2 {
		t.Fatalf("first tasks: %v %v", old, err)
	}
	second := srv.Simulate(simulate.Config{Cluster: "dereg", Instances: 1, CPU: 4096, Memory: 4096, Zones: []string{"b"}})
	if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("dereg"),
		ContainerInstance: aws.String(first.Instances[0].ARN), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deregistered instance's tasks STOPPED", func() bool {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("dereg"), Tasks: old.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range out.Tasks {
			if aws.ToString(task.LastStatus) != "STOPPED" {
				return false
			}
			if task.StopCode != types.TaskStopCodeServiceSchedulerInitiated || aws.ToString(task.StoppedReason) != "Task stopped because its container instance was deregistered." {
				t.Fatalf("task of the deregistered instance stopped with %s: %s", task.StopCode, aws.ToString(task.StoppedReason))
			}
		}
		return true
	})
	waitStable(t, c, "dereg", "web")
	if by := tasksByInstance(t, c, "dereg", "web"); by[second.Instances[0].ARN] != 2 || len(by) != 1 {
		t.Fatalf("tasks by instance after the deregistration: %v", by)
	}
}
