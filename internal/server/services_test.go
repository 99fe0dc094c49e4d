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

	// The deployment APIs see both deployments and their revisions.
	deps, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("svc"), Service: aws.String("web")})
	if err != nil || len(deps.ServiceDeployments) != 2 || deps.ServiceDeployments[0].Status != types.ServiceDeploymentStatusSuccessful ||
		deps.ServiceDeployments[1].Status != types.ServiceDeploymentStatusSuccessful {
		t.Fatalf("ListServiceDeployments: %+v %v", deps, err)
	}
	newest := deps.ServiceDeployments[0]
	if aws.ToString(s2.CurrentServiceDeployment) != aws.ToString(newest.ServiceDeploymentArn) {
		t.Fatalf("currentServiceDeployment %s, newest %s", aws.ToString(s2.CurrentServiceDeployment), aws.ToString(newest.ServiceDeploymentArn))
	}
	sd, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(newest.ServiceDeploymentArn), "arn:aws:ecs:us-east-1:123456789012:service-deployment/svc/web/1"}})
	if err != nil || len(sd.ServiceDeployments) != 1 || len(sd.Failures) != 1 {
		t.Fatalf("DescribeServiceDeployments: %+v %v", sd, err)
	}
	if d := sd.ServiceDeployments[0]; len(d.SourceServiceRevisions) != 1 || aws.ToString(d.SourceServiceRevisions[0].Arn) != aws.ToString(deps.ServiceDeployments[1].TargetServiceRevisionArn) ||
		d.TargetServiceRevision.RunningTaskCount != 4 {
		t.Fatalf("service deployment: %+v", d)
	}
	revs, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{aws.ToString(newest.TargetServiceRevisionArn)}})
	if err != nil || len(revs.ServiceRevisions) != 1 || !strings.HasSuffix(aws.ToString(revs.ServiceRevisions[0].TaskDefinition), "app:2") ||
		len(revs.ServiceRevisions[0].ContainerImages) != 1 {
		t.Fatalf("DescribeServiceRevisions: %+v %v", revs, err)
	}
	_, err = c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: newest.ServiceDeploymentArn})
	wantAPIError(t, err, "ConflictException", "")

	// A deployment that cannot place anything, stopped with a rollback.
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), TaskDefinition: aws.String("app:1"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:stack == nowhere")}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the unplaceable event", func() bool {
		return hasEvent(describeService(t, c, "svc", "web"), "was unable to place a task because no container instance met all of its requirements.")
	})
	stuck := describeService(t, c, "svc", "web")
	if _, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: stuck.CurrentServiceDeployment}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "svc", "web")
	sd, err = c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(stuck.CurrentServiceDeployment)}})
	if err != nil || len(sd.ServiceDeployments) != 1 || sd.ServiceDeployments[0].Status != types.ServiceDeploymentStatusRollbackSuccessful || sd.ServiceDeployments[0].Rollback == nil {
		t.Fatalf("the stopped deployment: %+v %v", sd, err)
	}
	if s := describeService(t, c, "svc", "web"); !strings.HasSuffix(aws.ToString(s.TaskDefinition), "app:2") || s.RunningCount != 4 {
		t.Fatalf("after the rollback: %s, running %d", aws.ToString(s.TaskDefinition), s.RunningCount)
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

// tasksByInstance maps each instance ARN to the service's RUNNING tasks on it.
func tasksByInstance(t *testing.T, c *ecs.Client, cluster, service string) map[string]int {
	t.Helper()
	ctx := context.Background()
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(service)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	if len(list.TaskArns) == 0 {
		return out
	}
	d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range d.Tasks {
		if aws.ToString(task.LastStatus) == "RUNNING" {
			out[aws.ToString(task.ContainerInstanceArn)]++
		}
	}
	return out
}

func TestDaemonServiceRunsOneTaskPerInstance(t *testing.T) {
	ctx := context.Background()
	srv, c := serviceFleet(t, "dmn", 3)
	out, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("dmn"), ServiceName: aws.String("logs"), TaskDefinition: aws.String("app"),
		SchedulingStrategy: types.SchedulingStrategyDaemon})
	if err != nil {
		t.Fatal(err)
	}
	dc := out.Service.DeploymentConfiguration
	if out.Service.DesiredCount != 3 || aws.ToInt32(dc.MaximumPercent) != 100 || aws.ToInt32(dc.MinimumHealthyPercent) != 0 {
		t.Fatalf("daemon service: desired %d, deployment configuration %+v", out.Service.DesiredCount, dc)
	}
	waitStable(t, c, "dmn", "logs")
	if per := tasksByInstance(t, c, "dmn", "logs"); len(per) != 3 {
		t.Fatalf("daemon tasks by instance: %v", per)
	}
	// A fourth instance gets one too; a new revision replaces each in place.
	srv.Simulate(simulate.Config{Cluster: "dmn", Instances: 1, CPU: 4096, Memory: 4096})
	waitUntil(t, "a task on the fourth instance", func() bool { return len(tasksByInstance(t, c, "dmn", "logs")) == 4 })
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("dmn"), Service: aws.String("logs"), TaskDefinition: aws.String("app:1")}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "dmn", "logs")
	per := tasksByInstance(t, c, "dmn", "logs")
	for inst, n := range per {
		if n != 1 {
			t.Fatalf("%d tasks on %s", n, inst)
		}
	}
	if s := describeService(t, c, "dmn", "logs"); len(per) != 4 || s.DesiredCount != 4 || !strings.HasSuffix(aws.ToString(s.TaskDefinition), "app:1") {
		t.Fatalf("after the update: %v, desired %d, %s", per, s.DesiredCount, aws.ToString(s.TaskDefinition))
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func TestDrainingInstanceIsEmptiedWithinBounds(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "drain", 2)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("drain"), ServiceName: aws.String("web"), TaskDefinition: aws.String("app"),
		DesiredCount: aws.Int32(4), PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "drain", "web")
	per := tasksByInstance(t, c, "drain", "web")
	if len(per) != 2 {
		t.Fatalf("spread: %v", per)
	}
	var victim string
	for inst := range per {
		victim = inst
		break
	}
	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("drain"), ContainerInstances: []string{victim}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	// While it moves, at least 4 tasks stay RUNNING (minimumHealthyPercent
	// 100) and at most 8 exist (maximumPercent 200).
	waitUntil(t, "the draining instance emptied", func() bool {
		per := tasksByInstance(t, c, "drain", "web")
		running := 0
		for _, n := range per {
			running += n
		}
		if running < 4 {
			t.Fatalf("%d running while draining: %v", running, per)
		}
		return per[victim] == 0
	})
	waitStable(t, c, "drain", "web")
	if per := tasksByInstance(t, c, "drain", "web"); len(per) != 1 || per[victim] != 0 {
		t.Fatalf("after draining: %v", per)
	}
}

func TestServiceInputIsCheckedAsECSChecksIt(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "bad", 0)
	create := func(mod func(*ecs.CreateServiceInput)) error {
		in := &ecs.CreateServiceInput{Cluster: aws.String("bad"), ServiceName: aws.String("web"), TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(1)}
		mod(in)
		_, err := c.CreateService(ctx, in)
		return err
	}
	for _, tc := range []struct {
		name      string
		mod       func(*ecs.CreateServiceInput)
		code, msg string
	}{
		{"unknown cluster", func(in *ecs.CreateServiceInput) { in.Cluster = aws.String("nope") }, "ClusterNotFoundException", "Cluster not found."},
		{"unknown task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("nope:7") }, "ClientException", "TaskDefinition not found."},
		{"desired count with DAEMON", func(in *ecs.CreateServiceInput) { in.SchedulingStrategy = types.SchedulingStrategyDaemon },
			"InvalidParameterException", "The daemon scheduling strategy does not support a desired count for services."},
		{"minimum above 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(120)}
		}, "InvalidParameterException", ""},
		{"maximum below 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(90)}
		}, "InvalidParameterException", ""},
		{"DAEMON with maximum 200", func(in *ecs.CreateServiceInput) {
			in.DesiredCount, in.SchedulingStrategy = nil, types.SchedulingStrategyDaemon
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(200)}
		}, "InvalidParameterException", ""},
		{"DAEMON with a placement strategy", func(in *ecs.CreateServiceInput) {
			in.DesiredCount, in.SchedulingStrategy = nil, types.SchedulingStrategyDaemon
			in.PlacementStrategy = []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}
		}, "InvalidParameterException", ""},
		{"a bad name", func(in *ecs.CreateServiceInput) { in.ServiceName = aws.String("no spaces") }, "InvalidParameterException", ""},
		{"a load balancer on a port the container lacks", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1"), ContainerName: aws.String("web"), ContainerPort: aws.Int32(9999)}}
		}, "InvalidParameterException", "The container web does not have a container port 9999 defined."},
	} {
		t.Run(tc.name, func(t *testing.T) { wantAPIError(t, create(tc.mod), tc.code, tc.msg) })
	}
	if out, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("bad")}); err != nil || len(out.ServiceArns) != 0 {
		t.Fatalf("bad input stored a service: %v %v", out, err)
	}

	// The same name twice; the same client token is a retry.
	token := func(in *ecs.CreateServiceInput) { in.ClientToken = aws.String("tok-1") }
	if err := create(token); err != nil {
		t.Fatal(err)
	}
	if err := create(token); err != nil {
		t.Fatalf("a retry with the same client token: %v", err)
	}
	wantAPIError(t, create(func(*ecs.CreateServiceInput) {}), "InvalidParameterException", "Creation of service was not idempotent.")
	_, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("bad"), Service: aws.String("nope"), DesiredCount: aws.Int32(2)})
	wantAPIError(t, err, "ServiceNotFoundException", "Service not found.")
	d, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("bad"), Services: []string{"web", "nope"}})
	if err != nil || len(d.Services) != 1 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe with a missing service: %+v %v", d, err)
	}
	if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("bad"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("bad"), Service: aws.String("web"), DesiredCount: aws.Int32(2)})
	wantAPIError(t, err, "ServiceNotActiveException", "Service was not ACTIVE.")
	// ListServices filters.
	if err := create(func(in *ecs.CreateServiceInput) {
		in.ServiceName = aws.String("d")
		in.DesiredCount = nil
		in.SchedulingStrategy = types.SchedulingStrategyDaemon
	}); err != nil {
		t.Fatal(err)
	}
	l, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("bad"), SchedulingStrategy: types.SchedulingStrategyDaemon})
	if err != nil || len(l.ServiceArns) != 1 || !strings.HasSuffix(l.ServiceArns[0], ":service/bad/d") {
		t.Fatalf("ListServices DAEMON: %v %v", l, err)
	}
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("bad")})
	wantAPIError(t, err, "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
	cl, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"bad"}})
	if err != nil || cl.Clusters[0].ActiveServicesCount != 1 {
		t.Fatalf("activeServicesCount: %+v %v", cl, err)
	}
}
