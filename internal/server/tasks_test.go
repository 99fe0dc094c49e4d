package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

// remaining reads an instance's remaining CPU and MEMORY and its used ports.
func remaining(t *testing.T, c *ecs.Client, cluster, arn string) (cpu, mem int32, ports []string) {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe %s: %v %+v", arn, err, out)
	}
	for _, r := range out.ContainerInstances[0].RemainingResources {
		switch aws.ToString(r.Name) {
		case "CPU":
			cpu = r.IntegerValue
		case "MEMORY":
			mem = r.IntegerValue
		case "PORTS":
			ports = r.StringSetValue
		}
	}
	return cpu, mem, ports
}

func TestTasks(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("work")}); err != nil {
		t.Fatal(err)
	}
	inst := registerTestInstance(t, c, "work", "i-0000000000000001")
	instARN := aws.ToString(inst.ContainerInstanceArn)
	srv.Attach("work", instARN, true) // placement needs a connected agent; the test reports for it

	td := webTaskDef("app") // one container, memory 128, container port 8080 on a dynamic host port
	td.ContainerDefinitions[0].Cpu = 256
	if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
		t.Fatal(err)
	}
	static := webTaskDef("static") // host port 8080: one per instance
	static.ContainerDefinitions[0].PortMappings[0].HostPort = aws.Int32(8080)
	if _, err := c.RegisterTaskDefinition(ctx, static); err != nil {
		t.Fatal(err)
	}

	var first types.Task
	t.Run("RunTask places tasks PENDING and takes their resources from the instance", func(t *testing.T) {
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("app"), Count: aws.Int32(2), StartedBy: aws.String("ci")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 2 || len(out.Failures) != 0 {
			t.Fatalf("tasks %d failures %+v", len(out.Tasks), out.Failures)
		}
		first = out.Tasks[0]
		if aws.ToString(first.LastStatus) != "PENDING" || aws.ToString(first.DesiredStatus) != "RUNNING" || first.LaunchType != types.LaunchTypeEc2 {
			t.Fatalf("task %s/%s %s", aws.ToString(first.LastStatus), aws.ToString(first.DesiredStatus), first.LaunchType)
		}
		if aws.ToString(first.ContainerInstanceArn) != instARN || aws.ToString(first.Group) != "family:app" || aws.ToString(first.AvailabilityZone) != "us-east-1a" {
			t.Fatalf("task placement %+v", first)
		}
		if len(first.Containers) != 1 || aws.ToString(first.Containers[0].Name) != "web" || aws.ToString(first.Containers[0].LastStatus) != "PENDING" {
			t.Fatalf("containers %+v", first.Containers)
		}
		cpu, mem, _ := remaining(t, c, "work", instARN)
		if cpu != 2048-512 || mem != 7982-256 {
			t.Fatalf("remaining cpu %d memory %d", cpu, mem)
		}
	})

	t.Run("a static host port is taken once per instance: RESOURCE:PORTS", func(t *testing.T) {
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("static"), Count: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:PORTS" || aws.ToString(out.Failures[0].Arn) != instARN {
			t.Fatalf("tasks %d failures %+v", len(out.Tasks), out.Failures)
		}
		_, _, ports := remaining(t, c, "work", instARN)
		found := false
		for _, p := range ports {
			found = found || p == "8080"
		}
		if !found {
			t.Fatalf("port 8080 not marked used: %v", ports)
		}
	})

	t.Run("a task larger than what remains fails with RESOURCE:MEMORY", func(t *testing.T) {
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("app"),
			Overrides: &types.TaskOverride{Memory: aws.String("100000")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:MEMORY" {
			t.Fatalf("tasks %d failures %+v", len(out.Tasks), out.Failures)
		}
	})

	t.Run("DescribeTasks and ListTasks find tasks by id, ARN and filters", func(t *testing.T) {
		id := aws.ToString(first.TaskArn)[len(aws.ToString(first.TaskArn))-32:]
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("work"), Tasks: []string{id, aws.ToString(first.TaskArn), "0123456789abcdef0123456789abcdef"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 2 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Fatalf("tasks %d failures %+v", len(out.Tasks), out.Failures)
		}
		for _, tc := range []struct {
			in   ecs.ListTasksInput
			want int
		}{
			{ecs.ListTasksInput{Cluster: aws.String("work")}, 3},
			{ecs.ListTasksInput{Cluster: aws.String("work"), Family: aws.String("app")}, 2},
			{ecs.ListTasksInput{Cluster: aws.String("work"), StartedBy: aws.String("ci")}, 2},
			{ecs.ListTasksInput{Cluster: aws.String("work"), ContainerInstance: aws.String(instARN)}, 3},
			{ecs.ListTasksInput{Cluster: aws.String("work"), DesiredStatus: types.DesiredStatusStopped}, 0},
			{ecs.ListTasksInput{Cluster: aws.String("work"), LaunchType: types.LaunchTypeFargate}, 0},
		} {
			l, err := c.ListTasks(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.TaskArns) != tc.want {
				t.Fatalf("ListTasks %+v: %d tasks, want %d", tc.in, len(l.TaskArns), tc.want)
			}
		}
	})

	t.Run("the agent's reports move the task to RUNNING and, when its essential container exits, to STOPPED", func(t *testing.T) {
		report := func(status string, exit *int32) {
			t.Helper()
			_, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
				Cluster: aws.String("work"), Task: first.TaskArn, Status: aws.String(status),
				Containers: []types.ContainerStateChange{{ContainerName: aws.String("web"), Status: aws.String(status), ExitCode: exit, RuntimeId: aws.String("abc123"),
					NetworkBindings: []types.NetworkBinding{{BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(8080), HostPort: aws.Int32(32768), Protocol: types.TransportProtocolTcp}}}},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		describe := func() types.Task {
			t.Helper()
			out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("work"), Tasks: []string{aws.ToString(first.TaskArn)}})
			if err != nil {
				t.Fatal(err)
			}
			return out.Tasks[0]
		}
		report("RUNNING", nil)
		report("RUNNING", nil) // re-sent after a reconnect: harmless
		task := describe()
		if aws.ToString(task.LastStatus) != "RUNNING" || task.StartedAt == nil || aws.ToInt32(task.Containers[0].NetworkBindings[0].HostPort) != 32768 {
			t.Fatalf("after RUNNING: %+v", task)
		}
		report("PENDING", nil) // late, out-of-order report: ignored
		if st := aws.ToString(describe().LastStatus); st != "RUNNING" {
			t.Fatalf("a late PENDING report moved the task back to %s", st)
		}
		_, memBefore, _ := remaining(t, c, "work", instARN)
		report("STOPPED", aws.Int32(3))
		task = describe()
		if aws.ToString(task.LastStatus) != "STOPPED" || task.StopCode != types.TaskStopCodeEssentialContainerExited ||
			aws.ToString(task.StoppedReason) != "Essential container in task exited" || aws.ToInt32(task.Containers[0].ExitCode) != 3 || task.StoppedAt == nil {
			t.Fatalf("after STOPPED: %+v", task)
		}
		_, memAfter, _ := remaining(t, c, "work", instARN)
		if memAfter != memBefore+128 {
			t.Fatalf("memory not given back: %d -> %d", memBefore, memAfter)
		}
		report("STOPPED", aws.Int32(3))
		if _, again, _ := remaining(t, c, "work", instARN); again != memAfter {
			t.Fatalf("a repeated STOPPED report gave memory back twice: %d -> %d", memAfter, again)
		}
	})

	t.Run("StopTask records the user's reason; bad input gets ECS's errors", func(t *testing.T) {
		l, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("work"), Family: aws.String("app")})
		if err != nil || len(l.TaskArns) != 1 {
			t.Fatalf("running app tasks: %v %v", l, err)
		}
		out, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("work"), Task: aws.String(l.TaskArns[0]), Reason: aws.String("deploy")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Task.DesiredStatus) != "STOPPED" || aws.ToString(out.Task.LastStatus) != "PENDING" || out.Task.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(out.Task.StoppedReason) != "deploy" {
			t.Fatalf("stopped task %+v", out.Task)
		}
		_, err = c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("work"), Task: aws.String("0123456789abcdef0123456789abcdef")})
		wantAPIError(t, err, "InvalidParameterException", "The referenced task was not found.")
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("app"), Count: aws.Int32(11)})
		wantAPIError(t, err, "InvalidParameterException", "")
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("nope")})
		wantAPIError(t, err, "ClientException", "TaskDefinition not found.")
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("nowhere"), TaskDefinition: aws.String("app")})
		wantAPIError(t, err, "ClusterNotFoundException", "Cluster not found.")
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("app"),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("db")}}}})
		wantAPIError(t, err, "InvalidParameterException", "Override for container named db is not a container in the TaskDefinition.")
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("app"), LaunchType: types.LaunchTypeFargate})
		wantAPIError(t, err, "InvalidParameterException", "Task definition does not support launch_type FARGATE.")
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("empty")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("empty"), TaskDefinition: aws.String("app")})
		wantAPIError(t, err, "InvalidParameterException", "No Container Instances were found in your cluster.")
	})

	t.Run("a DRAINING instance gets no new tasks", func(t *testing.T) {
		if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("work"), ContainerInstances: []string{instARN}, Status: types.ContainerInstanceStatusDraining}); err != nil {
			t.Fatal(err)
		}
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("work"), TaskDefinition: aws.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "DRAINING" {
			t.Fatalf("tasks %d failures %+v", len(out.Tasks), out.Failures)
		}
	})

	t.Run("tasks survive a restart", func(t *testing.T) {
		srv.Restart()
		c = srv.Client()
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("work"), Tasks: []string{aws.ToString(first.TaskArn)}})
		if err != nil || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "STOPPED" {
			t.Fatalf("after restart: %+v %v", out, err)
		}
		cl, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"work"}})
		if err != nil {
			t.Fatal(err)
		}
		if cl.Clusters[0].PendingTasksCount != 2 || cl.Clusters[0].RunningTasksCount != 0 {
			t.Fatalf("cluster counts pending %d running %d", cl.Clusters[0].PendingTasksCount, cl.Clusters[0].RunningTasksCount)
		}
	})
}
