package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/simulate"
)

func describeTaskSet(t *testing.T, c *ecs.Client, cluster, service, id string) types.TaskSet {
	t.Helper()
	out, err := c.DescribeTaskSets(context.Background(), &ecs.DescribeTaskSetsInput{Cluster: aws.String(cluster), Service: aws.String(service),
		TaskSets: []string{id}, Include: []types.TaskSetField{types.TaskSetFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TaskSets) != 1 {
		t.Fatalf("task set %s: failures %+v", id, out.Failures)
	}
	return out.TaskSets[0]
}

// waitTaskSet waits until a task set runs want tasks and is STEADY_STATE.
func waitTaskSet(t *testing.T, c *ecs.Client, cluster, service, id string, want int32) types.TaskSet {
	t.Helper()
	var ts types.TaskSet
	waitUntil(t, "task set "+id+" steady", func() bool {
		ts = describeTaskSet(t, c, cluster, service, id)
		return ts.RunningCount == want && ts.PendingCount == 0 && ts.ComputedDesiredCount == want && ts.StabilityStatus == types.StabilityStatusSteadyState
	})
	return ts
}

func createTaskSet(t *testing.T, c *ecs.Client, cluster, service, taskDef string, percent float64) types.TaskSet {
	t.Helper()
	out, err := c.CreateTaskSet(context.Background(), &ecs.CreateTaskSetInput{Cluster: aws.String(cluster), Service: aws.String(service),
		TaskDefinition: aws.String(taskDef), Scale: &types.Scale{Value: percent, Unit: types.ScaleUnitPercent}, ExternalId: aws.String("deploy-" + taskDef),
		Tags: []types.Tag{{Key: aws.String("color"), Value: aws.String(taskDef)}}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.TaskSet
}

// startedBy counts the service's tasks not yet stopping by who started them.
func startedBy(t *testing.T, c *ecs.Client, cluster, service string) map[string]int {
	t.Helper()
	ctx := context.Background()
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(service), DesiredStatus: types.DesiredStatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	if len(list.TaskArns) == 0 {
		return out
	}
	dt, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range dt.Tasks {
		out[aws.ToString(task.StartedBy)]++
	}
	return out
}

// A blue/green deployment as an external controller runs it: blue at 100%,
// green created at 50%, green made primary and scaled to 100%, blue scaled
// to 0 and deleted.
func TestTaskSetsOfAnExternalService(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "ext", 2)
	created, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("ext"), ServiceName: aws.String("web"), DesiredCount: aws.Int32(4),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}})
	if err != nil {
		t.Fatal(err)
	}
	if s := created.Service; len(s.Deployments) != 0 || len(s.TaskSets) != 0 || s.TaskDefinition != nil || s.DeploymentController.Type != types.DeploymentControllerTypeExternal {
		t.Fatalf("created EXTERNAL service: %+v", s)
	}

	blue := createTaskSet(t, c, "ext", "web", "app:1", 100)
	if aws.ToString(blue.Status) != "ACTIVE" || blue.ComputedDesiredCount != 4 || !strings.HasPrefix(aws.ToString(blue.Id), "ecs-svc/") ||
		aws.ToString(blue.TaskSetArn) != "arn:aws:ecs:us-east-1:123456789012:task-set/ext/web/"+aws.ToString(blue.Id) ||
		blue.StabilityStatus != types.StabilityStatusStabilizing || blue.Scale.Value != 100 || blue.Scale.Unit != types.ScaleUnitPercent ||
		aws.ToString(blue.ExternalId) != "deploy-app:1" || blue.LaunchType != types.LaunchTypeEc2 || len(blue.Tags) != 1 {
		t.Fatalf("created task set: %+v", blue)
	}
	if _, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("ext"), Service: aws.String("web"), PrimaryTaskSet: blue.TaskSetArn}); err != nil {
		t.Fatal(err)
	}
	waitTaskSet(t, c, "ext", "web", aws.ToString(blue.Id), 4)
	s := describeService(t, c, "ext", "web")
	if !strings.HasSuffix(aws.ToString(s.TaskDefinition), "app:1") || s.RunningCount != 4 || len(s.TaskSets) != 1 || aws.ToString(s.TaskSets[0].Status) != "PRIMARY" {
		t.Fatalf("service with blue primary: task definition %s, running %d, task sets %+v", aws.ToString(s.TaskDefinition), s.RunningCount, s.TaskSets)
	}
	if by := startedBy(t, c, "ext", "web"); by[aws.ToString(blue.Id)] != 4 {
		t.Fatalf("tasks by startedBy: %v", by)
	}
	waitUntil(t, "a steady state event", func() bool {
		return hasEvent(describeService(t, c, "ext", "web"), "(service web) has reached a steady state.")
	})

	// Green at 50% runs beside blue: ceil(4 × 0.5) = 2.
	green := createTaskSet(t, c, "ext", "web", "app:2", 50)
	waitTaskSet(t, c, "ext", "web", aws.ToString(green.Id), 2)
	if by := startedBy(t, c, "ext", "web"); by[aws.ToString(blue.Id)] != 4 || by[aws.ToString(green.Id)] != 2 {
		t.Fatalf("blue and green side by side: %v", by)
	}
	// Traffic goes to green; it takes over the service's settings.
	if _, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("ext"), Service: aws.String("web"), PrimaryTaskSet: green.Id}); err != nil {
		t.Fatal(err)
	}
	if ts := describeTaskSet(t, c, "ext", "web", aws.ToString(blue.Id)); aws.ToString(ts.Status) != "ACTIVE" {
		t.Fatalf("old primary: %s", aws.ToString(ts.Status))
	}
	if s := describeService(t, c, "ext", "web"); !strings.HasSuffix(aws.ToString(s.TaskDefinition), "app:2") {
		t.Fatalf("service after the switch runs %s", aws.ToString(s.TaskDefinition))
	}
	for id, pct := range map[string]float64{aws.ToString(green.Id): 100, aws.ToString(blue.Id): 0} {
		if _, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: aws.String("ext"), Service: aws.String("web"), TaskSet: aws.String(id),
			Scale: &types.Scale{Value: pct, Unit: types.ScaleUnitPercent}}); err != nil {
			t.Fatal(err)
		}
	}
	waitTaskSet(t, c, "ext", "web", aws.ToString(green.Id), 4)
	waitTaskSet(t, c, "ext", "web", aws.ToString(blue.Id), 0)

	// Green is scaled above 0: deleting it needs force, and the refusal
	// leaves it as it was.
	_, err = c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("ext"), Service: aws.String("web"), TaskSet: green.Id})
	wantAPIError(t, err, "InvalidParameterException", "The task set cannot be deleted while it is scaled above 0. Scale it to 0 first, or delete it with force.")
	if ts := describeTaskSet(t, c, "ext", "web", aws.ToString(green.Id)); aws.ToString(ts.Status) != "PRIMARY" || ts.Scale.Value != 100 {
		t.Fatalf("green after a refused delete: %+v", ts)
	}
	// Blue, at 0, goes without force: DRAINING, then gone.
	del, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("ext"), Service: aws.String("web"), TaskSet: blue.TaskSetArn})
	if err != nil || aws.ToString(del.TaskSet.Status) != "DRAINING" {
		t.Fatalf("delete blue: %v %+v", err, del)
	}
	waitUntil(t, "blue removed", func() bool {
		out, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String("ext"), Service: aws.String("web"), TaskSets: []string{aws.ToString(blue.Id)}})
		return err == nil && len(out.TaskSets) == 0 && len(out.Failures) == 1 && aws.ToString(out.Failures[0].Reason) == "MISSING"
	})

	// The service's desired count scales every task set: ceil(3 × 1.0) = 3.
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("ext"), Service: aws.String("web"), DesiredCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	waitTaskSet(t, c, "ext", "web", aws.ToString(green.Id), 3)

	// Deleting the service stops the tasks of its task sets.
	if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("ext"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the service INACTIVE", func() bool {
		return aws.ToString(describeService(t, c, "ext", "web").Status) == "INACTIVE"
	})
	if by := startedBy(t, c, "ext", "web"); len(by) != 0 {
		t.Fatalf("tasks left after the service was deleted: %v", by)
	}
}

// A task set's computed desired count is rounded up, as ECS rounds it.
func TestTaskSetComputedDesiredCountRoundsUp(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "round", 0)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("round"), ServiceName: aws.String("web"), DesiredCount: aws.Int32(3),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	for pct, want := range map[float64]int32{50: 2, 33.3: 1, 33.34: 2, 0: 0, 100: 3, 1: 1} {
		ts := createTaskSet(t, c, "round", "web", "app:1", pct)
		if ts.ComputedDesiredCount != want {
			t.Errorf("%v%% of 3: computed desired count %d, want %d", pct, ts.ComputedDesiredCount, want)
		}
		if _, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("round"), Service: aws.String("web"), TaskSet: ts.Id, Force: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "task set removed", func() bool {
			out, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String("round"), Service: aws.String("web")})
			return err == nil && len(out.TaskSets) == 0
		})
	}
}

func TestTaskSetInputIsCheckedAsECSChecksIt(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "bad", 0)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("bad"), ServiceName: aws.String("ext"), DesiredCount: aws.Int32(2),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("bad"), ServiceName: aws.String("rolling"), DesiredCount: aws.Int32(0),
		TaskDefinition: aws.String("app:1")}); err != nil {
		t.Fatal(err)
	}
	first := createTaskSet(t, c, "bad", "ext", "app:1", 100)
	token, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:2"), ClientToken: aws.String("once")})
	if err != nil {
		t.Fatal(err)
	}
	scale := func(v float64) *types.Scale { return &types.Scale{Value: v, Unit: types.ScaleUnitPercent} }
	cases := []struct {
		name          string
		call          func() error
		code, message string
	}{
		{"a task set on a service of the ECS controller", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("rolling"), TaskDefinition: aws.String("app:1")})
			return err
		}, "InvalidParameterException", "Amazon ECS only supports task set management on services configured to use external deployment controllers."},
		{"an unknown service", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("nope"), TaskDefinition: aws.String("app:1")})
			return err
		}, "ServiceNotFoundException", "Service not found."},
		{"an unknown cluster", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("nope"), Service: aws.String("ext"), TaskDefinition: aws.String("app:1")})
			return err
		}, "ClusterNotFoundException", "Cluster not found."},
		{"an unknown task definition", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("nope:1")})
			return err
		}, "ClientException", "TaskDefinition not found."},
		{"a scale above 100", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:1"), Scale: scale(150)})
			return err
		}, "InvalidParameterException", "Scale value must be between 0 and 100."},
		{"both a launch type and a capacity provider strategy", func() error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:1"),
				LaunchType: types.LaunchTypeEc2, CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}})
			return err
		}, "InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."},
		{"scaling an unknown task set", func() error {
			_, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskSet: aws.String("ecs-svc/1234567890123456789"), Scale: scale(50)})
			return err
		}, "TaskSetNotFoundException", "The specified task set does not exist."},
		{"a negative scale", func() error {
			_, err := c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskSet: first.Id, Scale: scale(-1)})
			return err
		}, "InvalidParameterException", "Scale value must be between 0 and 100."},
		{"an unknown primary task set", func() error {
			_, err := c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), PrimaryTaskSet: aws.String("nope")})
			return err
		}, "TaskSetNotFoundException", "The specified task set does not exist."},
		{"deleting an unknown task set", func() error {
			_, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskSet: aws.String("nope")})
			return err
		}, "TaskSetNotFoundException", "The specified task set does not exist."},
		{"describing the task sets of a service of the ECS controller", func() error {
			_, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String("bad"), Service: aws.String("rolling")})
			return err
		}, "InvalidParameterException", "Amazon ECS only supports task set management on services configured to use external deployment controllers."},
		{"a new task definition for an EXTERNAL service", func() error {
			_, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:2")})
			return err
		}, "InvalidParameterException", "The task definition, capacity provider strategy, platform version, network configuration, load balancers and service registries of a service with the EXTERNAL deployment controller are set on its task sets: create a new task set."},
		{"an EXTERNAL DAEMON service", func() error {
			_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("bad"), ServiceName: aws.String("d"), SchedulingStrategy: types.SchedulingStrategyDaemon,
				DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}})
			return err
		}, "InvalidParameterException", "The DAEMON scheduling strategy does not support the EXTERNAL deployment controller."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantAPIError(t, tc.call(), tc.code, tc.message) })
	}

	// A retry with the same client token is answered with the task set it created.
	again, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:2"), ClientToken: aws.String("once")})
	if err != nil || aws.ToString(again.TaskSet.Id) != aws.ToString(token.TaskSet.Id) {
		t.Fatalf("retry with the client token: %v, %s then %s", err, aws.ToString(token.TaskSet.Id), aws.ToString(again.TaskSet.Id))
	}
	// Up to five task sets a service (Berth's limit); three exist.
	for range 3 {
		if _, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:1")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskDefinition: aws.String("app:1")})
	wantAPIError(t, err, "LimitExceededException", "A service can have at most 5 task sets.")

	// Nothing refused changed what is stored.
	out, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String("bad"), Service: aws.String("ext"), TaskSets: []string{aws.ToString(first.Id), "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String("bad"), Service: aws.String("ext")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TaskSets) != 1 || out.TaskSets[0].Scale.Value != 100 || aws.ToString(out.TaskSets[0].Status) != "ACTIVE" ||
		len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" || len(all.TaskSets) != 5 {
		t.Fatalf("after the refusals: %+v, failures %+v, %d task sets", out.TaskSets, out.Failures, len(all.TaskSets))
	}
	if s := describeService(t, c, "bad", "ext"); s.TaskDefinition != nil || len(s.TaskSets) != 5 {
		t.Fatalf("EXTERNAL service without a primary task set shows task definition %v, %d task sets", aws.ToString(s.TaskDefinition), len(s.TaskSets))
	}
}

// A task set being deleted (DRAINING until its tasks have stopped) cannot be
// scaled or made primary, and deleting it again changes nothing. The fleet is
// passive: it never reports, so the task set stays DRAINING.
func TestADrainingTaskSetCannotChange(t *testing.T) {
	ctx := context.Background()
	srv, c := serviceFleet(t, "drain", 0)
	srv.Simulate(simulate.Config{Cluster: "drain", Instances: 1, CPU: 4096, Memory: 4096, Zones: []string{"a"}, Passive: true})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("drain"), ServiceName: aws.String("web"), DesiredCount: aws.Int32(1),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	ts := createTaskSet(t, c, "drain", "web", "app:1", 100)
	waitUntil(t, "a task of the task set placed", func() bool { return describeTaskSet(t, c, "drain", "web", aws.ToString(ts.Id)).PendingCount == 1 })
	deleted, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("drain"), Service: aws.String("web"), TaskSet: ts.Id, Force: aws.Bool(true)})
	if err != nil || aws.ToString(deleted.TaskSet.Status) != "DRAINING" {
		t.Fatalf("delete with force: %v %+v", err, deleted)
	}
	_, err = c.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: aws.String("drain"), Service: aws.String("web"), TaskSet: ts.Id,
		Scale: &types.Scale{Value: 50, Unit: types.ScaleUnitPercent}})
	wantAPIError(t, err, "InvalidParameterException", "The task set is being deleted and cannot be updated.")
	_, err = c.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("drain"), Service: aws.String("web"), PrimaryTaskSet: ts.Id})
	wantAPIError(t, err, "InvalidParameterException", "The task set is being deleted and cannot be made the primary task set.")
	before := describeTaskSet(t, c, "drain", "web", aws.ToString(ts.Id))
	again, err := c.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String("drain"), Service: aws.String("web"), TaskSet: ts.Id})
	if err != nil || aws.ToString(again.TaskSet.Status) != "DRAINING" {
		t.Fatalf("second delete: %v %+v", err, again)
	}
	after := describeTaskSet(t, c, "drain", "web", aws.ToString(ts.Id))
	if aws.ToString(after.Status) != "DRAINING" || after.Scale.Value != 100 || !aws.ToTime(after.UpdatedAt).Equal(aws.ToTime(before.UpdatedAt)) {
		t.Fatalf("the refusals or the second delete changed the task set: before %+v, after %+v", before, after)
	}
}
