package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// serviceFleet is a server with a cluster of simulated instances and two
// revisions of a task definition "app".
func serviceFleet(t *testing.T, cluster string, instances int) (*berthtest.Server, *ecs.Client) {
	t.Helper()
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
			t.Fatal(err)
		}
	}
	if instances > 0 {
		srv.Simulate(simulate.Config{Cluster: cluster, Instances: instances, CPU: 4096, Memory: 4096, Zones: []string{"a", "b"}})
	}
	return srv, c
}

func describeService(t *testing.T, c *ecs.Client, cluster, name string) types.Service {
	t.Helper()
	out, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("service %s: failures %+v", name, out.Failures)
	}
	return out.Services[0]
}

// waitStable runs the SDK's services-stable waiter, as deploy tools do.
func waitStable(t *testing.T, c *ecs.Client, cluster string, names ...string) {
	t.Helper()
	w := ecs.NewServicesStableWaiter(c, func(o *ecs.ServicesStableWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: names}, 2*time.Minute); err != nil {
		for _, n := range names {
			s := describeService(t, c, cluster, n)
			t.Logf("%s: running %d pending %d desired %d deployments %d", n, s.RunningCount, s.PendingCount, s.DesiredCount, len(s.Deployments))
			for _, e := range s.Events {
				t.Logf("  event: %s", aws.ToString(e.Message))
			}
		}
		t.Fatalf("services-stable: %v", err)
	}
}

func hasEvent(s types.Service, substr string) bool {
	return slices.ContainsFunc(s.Events, func(e types.ServiceEvent) bool { return strings.Contains(aws.ToString(e.Message), substr) })
}

func TestServiceReachesSteadyStateAndRollsOut(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "svc", 2)
	out, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(4), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
		PropagateTags: types.PropagateTagsService, EnableECSManagedTags: true})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Service
	if aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount != 4 || len(s.Deployments) != 1 || s.LaunchType != types.LaunchTypeEc2 ||
		aws.ToInt32(s.DeploymentConfiguration.MaximumPercent) != 200 || aws.ToInt32(s.DeploymentConfiguration.MinimumHealthyPercent) != 100 {
		t.Fatalf("created service: %+v", s)
	}
	if d := s.Deployments[0]; aws.ToString(d.Status) != "PRIMARY" || d.RolloutState != types.DeploymentRolloutStateInProgress || !strings.HasPrefix(aws.ToString(d.Id), "ecs-svc/") {
		t.Fatalf("first deployment: %+v", d)
	}
	waitStable(t, c, "svc", "web")
	s1 := describeService(t, c, "svc", "web")
	if s1.RunningCount != 4 || !hasEvent(s1, "(service web) has reached a steady state.") || !hasEvent(s1, "(service web) has started 4 tasks:") ||
		s1.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted || len(s1.Tags) != 1 {
		t.Fatalf("steady service: running %d, deployments %+v, events %+v", s1.RunningCount, s1.Deployments, s1.Events)
	}
	tasks, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("svc"), ServiceName: aws.String("web")})
	if err != nil || len(tasks.TaskArns) != 4 {
		t.Fatalf("ListTasks by service: %v %v", tasks, err)
	}
	dt, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("svc"), Tasks: tasks.TaskArns[:1], Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if task := dt.Tasks[0]; aws.ToString(task.Group) != "service:web" || aws.ToString(task.StartedBy) != aws.ToString(s1.Deployments[0].Id) || len(task.Tags) != 3 {
		t.Fatalf("service task: group %s startedBy %s tags %+v", aws.ToString(task.Group), aws.ToString(task.StartedBy), task.Tags)
	}

	// Revision 2 rolls out and replaces every task.
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), TaskDefinition: aws.String("app:2")}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "svc", "web")
	s2 := describeService(t, c, "svc", "web")
	if len(s2.Deployments) != 1 || !strings.HasSuffix(aws.ToString(s2.Deployments[0].TaskDefinition), "app:2") || s2.RunningCount != 4 ||
		!hasEvent(s2, "deployment completed.") || !hasEvent(s2, "has stopped 4 running tasks") && !hasEvent(s2, "has stopped") {
		t.Fatalf("after the update: %+v, events %+v", s2.Deployments, s2.Events)
	}
	running, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusRunning})
	if err != nil || len(running.TaskArns) != 4 {
		t.Fatalf("running tasks after the update: %v %v", running, err)
	}

	// Scale to zero, then delete.
	if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("web")}); err == nil {
		t.Fatal("deleting a service scaled above 0 without force succeeded")
	} else {
		wantAPIError(t, err, "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "svc", "web")
	if s := describeService(t, c, "svc", "web"); s.RunningCount != 0 {
		t.Fatalf("scaled to zero: running %d", s.RunningCount)
	}
	if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	w := ecs.NewServicesInactiveWaiter(c, func(o *ecs.ServicesInactiveWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"web"}}, time.Minute); err != nil {
		t.Fatalf("services-inactive: %v", err)
	}
	list, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc")})
	if err != nil || len(list.ServiceArns) != 0 {
		t.Fatalf("ListServices after delete: %v %v", list, err)
	}
}
