package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// fargateCapacity is what `berth agent --fargate` registers as: the
// designation of Fargate capacity, and the capability awsvpc tasks need.
var fargateCapacity = map[string]string{"berth.capacity-provider": "FARGATE", "ecs.capability.task-eni": ""}

var awsvpcNet = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"}}}

// fargateTaskDef is a Fargate task definition of the given size.
func fargateTaskDef(family, cpu, memory string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String(cpu), Memory: aws.String(memory),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox:latest")}},
	}
}

// devShape is berth dev's default capacity: a server, the default cluster,
// and the local host as Fargate capacity (simulated: no Docker).
func devShape(t *testing.T) (*berthtest.Server, *ecs.Client) {
	t.Helper()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "default", Instances: 1, CPU: 4096, Memory: 8192, Attributes: fargateCapacity})
	return srv, c
}

func TestFargateTasksRunOnTheDevCapacity(t *testing.T) {
	ctx := context.Background()
	_, c := devShape(t)
	if _, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("fn", "256", "512")); err != nil {
		t.Fatal(err)
	}
	out := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet})
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("tasks %d failures %v", len(out.Tasks), out.Failures)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	w := ecs.NewTasksRunningWaiter(c, func(o *ecs.TasksRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}}, time.Minute); err != nil {
		t.Fatal(err)
	}

	t.Run("the task shows what ECS shows of a Fargate task", func(t *testing.T) {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}})
		if err != nil || len(d.Tasks) != 1 {
			t.Fatalf("%v %v", d, err)
		}
		task := d.Tasks[0]
		if task.ContainerInstanceArn != nil {
			t.Errorf("containerInstanceArn %s: a Fargate task has none", aws.ToString(task.ContainerInstanceArn))
		}
		if task.LaunchType != types.LaunchTypeFargate || task.CapacityProviderName != nil {
			t.Errorf("launchType %s capacityProviderName %v", task.LaunchType, aws.ToString(task.CapacityProviderName))
		}
		if aws.ToString(task.PlatformVersion) != "1.4.0" || aws.ToString(task.PlatformFamily) != "Linux" {
			t.Errorf("platform %s %s", aws.ToString(task.PlatformVersion), aws.ToString(task.PlatformFamily))
		}
		if task.EphemeralStorage == nil || task.EphemeralStorage.SizeInGiB != 20 {
			t.Errorf("ephemeralStorage %+v", task.EphemeralStorage)
		}
		if task.Connectivity != types.ConnectivityConnected || task.ConnectivityAt == nil {
			t.Errorf("connectivity %s at %v", task.Connectivity, task.ConnectivityAt)
		}
	})

	t.Run("Fargate capacity is no instance of the cluster", func(t *testing.T) {
		if got := listInstances(t, c, &ecs.ListContainerInstancesInput{}); len(got) != 0 {
			t.Errorf("ListContainerInstances %v", got)
		}
		d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Include: []types.ClusterField{types.ClusterFieldStatistics}})
		if err != nil || len(d.Clusters) != 1 {
			t.Fatalf("%v %v", d, err)
		}
		cl := d.Clusters[0]
		if cl.RegisteredContainerInstancesCount != 0 || cl.RunningTasksCount != 1 {
			t.Errorf("instances %d running %d", cl.RegisteredContainerInstancesCount, cl.RunningTasksCount)
		}
		for _, s := range cl.Statistics {
			if aws.ToString(s.Name) == "runningFargateTasksCount" && aws.ToString(s.Value) != "1" {
				t.Errorf("runningFargateTasksCount %s", aws.ToString(s.Value))
			}
		}
	})

	t.Run("LATEST is 1.4.0", func(t *testing.T) {
		out := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet, PlatformVersion: aws.String("LATEST")})
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].PlatformVersion) != "1.4.0" {
			t.Fatalf("tasks %+v failures %v", out.Tasks, out.Failures)
		}
	})

	t.Run("an EC2 launch finds no EC2 instance", func(t *testing.T) {
		if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("web")); err != nil {
			t.Fatal(err)
		}
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("web")})
		wantAPIError(t, err, "InvalidParameterException", "No Container Instances were found in your cluster.")
	})
}

func TestFargateSpotStrategyRunsTasksAndServices(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("spot"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"}}); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "spot", Instances: 1, CPU: 4096, Memory: 8192, Attributes: fargateCapacity})
	if _, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("fn", "512", "1024")); err != nil {
		t.Fatal(err)
	}
	strategy := []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Base: 1, Weight: 1}, {CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 3}}
	out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("spot"), TaskDefinition: aws.String("fn"), Count: aws.Int32(5),
		CapacityProviderStrategy: strategy, NetworkConfiguration: awsvpcNet})
	byProvider := map[string]int{}
	for _, task := range out.Tasks {
		byProvider[aws.ToString(task.CapacityProviderName)]++
		if task.LaunchType != types.LaunchTypeFargate || task.ContainerInstanceArn != nil {
			t.Errorf("launchType %s containerInstanceArn %v", task.LaunchType, aws.ToString(task.ContainerInstanceArn))
		}
	}
	if byProvider["FARGATE"] != 2 || byProvider["FARGATE_SPOT"] != 3 || len(out.Failures) != 0 {
		t.Fatalf("by provider %v, failures %v", byProvider, out.Failures)
	}

	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("spot"), ServiceName: aws.String("svc"), TaskDefinition: aws.String("fn"),
		DesiredCount: aws.Int32(2), NetworkConfiguration: awsvpcNet,
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	w := ecs.NewServicesStableWaiter(c, func(o *ecs.ServicesStableWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("spot"), Services: []string{"svc"}}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("spot"), ServiceName: aws.String("svc")})
	if err != nil || len(list.TaskArns) != 2 {
		t.Fatalf("service tasks %v %v", list, err)
	}
	d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("spot"), Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range d.Tasks {
		if aws.ToString(task.CapacityProviderName) != "FARGATE_SPOT" || aws.ToString(task.PlatformVersion) != "1.4.0" {
			t.Errorf("service task on %s, platform %s", aws.ToString(task.CapacityProviderName), aws.ToString(task.PlatformVersion))
		}
	}
}

func TestFargateWithoutCapacityFails(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("none")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("fn", "256", "512")); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("none"), TaskDefinition: aws.String("fn"), Count: aws.Int32(2),
			LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet})
		if len(out.Tasks) != 0 || len(out.Failures) != 1 {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), out.Failures)
		}
		f := out.Failures[0]
		if f.Arn != nil || aws.ToString(f.Reason) != "Capacity is unavailable at this time. Please try again later or in a different availability zone" {
			t.Fatalf("failure %s: %s", aws.ToString(f.Arn), aws.ToString(f.Reason))
		}
	}
	t.Run("in a cluster with no instances", check)
	t.Run("in a cluster with only EC2 instances", func(t *testing.T) {
		in := registerTestInstance(t, c, "none", "i-0000000000000001", attr("ecs.capability.task-eni", ""))
		srv.Attach("none", aws.ToString(in.ContainerInstanceArn), true)
		check(t)
	})
	t.Run("when the Fargate capacity is full", func(t *testing.T) {
		srv.Simulate(simulate.Config{Cluster: "none", Instances: 1, CPU: 256, Memory: 512, Attributes: fargateCapacity})
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("none"), TaskDefinition: aws.String("fn"), Count: aws.Int32(2),
			LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet})
		if len(out.Tasks) != 1 || len(out.Failures) != 1 || out.Failures[0].Arn != nil {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), out.Failures)
		}
	})
}

func TestFargateTaskSizesAreECSs(t *testing.T) {
	ctx := context.Background()
	_, c := devShape(t)
	for _, tc := range []struct {
		cpu, memory string
		ok          bool
	}{
		{"256", "512", true}, {"256", "2048", true}, {"256", "1536", false}, {"256", "4096", false},
		{"512", "1024", true}, {"512", "4096", true}, {"512", "512", false},
		{"1024", "2048", true}, {"1024", "8192", true}, {"1024", "9216", false},
		{"2048", "16384", true}, {"2048", "3072", false},
		{"4096", "30720", true}, {"4096", "31744", false},
		{"8192", "16384", true}, {"8192", "20480", true}, {"8192", "17408", false}, {"8192", "61440", true},
		{"16384", "32768", true}, {"16384", "40960", true}, {"16384", "36864", false}, {"16384", "122880", true},
		{"128", "512", false}, {"1 vCPU", "2 GB", true},
	} {
		_, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("sized", tc.cpu, tc.memory))
		if tc.ok && err != nil {
			t.Errorf("%s CPU %s memory refused: %v", tc.cpu, tc.memory, err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("%s CPU %s memory accepted", tc.cpu, tc.memory)
				continue
			}
			wantAPIError(t, err, "ClientException", "No Fargate configuration exists for given values: "+tc.cpu+" CPU, "+tc.memory+" memory. See the Amazon ECS documentation for the valid values.")
		}
	}

	t.Run("RunTask checks the size its overrides make", func(t *testing.T) {
		if _, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("fn", "256", "512")); err != nil {
			t.Fatal(err)
		}
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet,
			Overrides: &types.TaskOverride{Memory: aws.String("4096")}})
		wantAPIError(t, err, "InvalidParameterException", "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values.")
		out := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet,
			Overrides: &types.TaskOverride{Cpu: aws.String("512"), Memory: aws.String("1024")}})
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].Cpu) != "512" {
			t.Fatalf("tasks %+v failures %v", out.Tasks, out.Failures)
		}
	})
}
