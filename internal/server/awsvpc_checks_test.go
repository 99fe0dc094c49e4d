package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// RunTask, StartTask, CreateService and CreateTaskSet refuse a network
// configuration as ECS does, with its messages, and store nothing.
func TestAwsvpcNetworkConfigurationIsCheckedAsECSChecksIt(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("vpc")}); err != nil {
		t.Fatal(err)
	}
	for _, td := range []*ecs.RegisterTaskDefinitionInput{awsvpcTaskDef("vpcapp"), memoryTaskDef("bridgeapp", 128)} {
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
	}
	fleet := srv.Simulate(simulate.Config{Cluster: "vpc", Instances: 1, CPU: 4096, Memory: 4096, Passive: true})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("vpc"), ServiceName: aws.String("ext"),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(td string, nc *types.NetworkConfiguration) error{
		"RunTask": func(td string, nc *types.NetworkConfiguration) error {
			_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String(td), NetworkConfiguration: nc})
			return err
		},
		"StartTask": func(td string, nc *types.NetworkConfiguration) error {
			_, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String(td),
				ContainerInstances: []string{fleet.Instances[0].ARN}, NetworkConfiguration: nc})
			return err
		},
		"CreateService": func(td string, nc *types.NetworkConfiguration) error {
			_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("vpc"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td),
				DesiredCount: aws.Int32(1), NetworkConfiguration: nc})
			return err
		},
		"CreateTaskSet": func(td string, nc *types.NetworkConfiguration) error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("vpc"), Service: aws.String("ext"), TaskDefinition: aws.String(td), NetworkConfiguration: nc})
			return err
		},
	}
	public := inSubnets("subnet-0aaa")
	public.AwsvpcConfiguration.AssignPublicIp = types.AssignPublicIpEnabled
	cases := []struct {
		name, td string
		nc       *types.NetworkConfiguration
		msg      string
	}{
		{"awsvpc without a network configuration", "vpcapp", nil, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"awsvpc without subnets", "vpcapp", inSubnets(), "subnets can not be empty."},
		{"a public address on EC2", "vpcapp", public, "Assign public IP is not supported for this launch type."},
		{"a network configuration for a bridge task", "bridgeapp", inSubnets("subnet-0aaa"), "Network Configuration is not valid for the given networkMode of this task definition."},
	}
	for _, call := range []string{"RunTask", "StartTask", "CreateService", "CreateTaskSet"} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s refuses %s", call, tc.name), func(t *testing.T) {
				wantAPIError(t, calls[call](tc.td, tc.nc), "InvalidParameterException", tc.msg)
			})
		}
	}
	tasks, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("vpc")})
	if err != nil || len(tasks.TaskArns) != 0 {
		t.Fatalf("tasks after refused calls: %v %v", tasks, err)
	}
	services, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("vpc")})
	if err != nil || len(services.ServiceArns) != 1 {
		t.Fatalf("services after refused calls: %v %v", services, err)
	}
	sets, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String("vpc"), Service: aws.String("ext")})
	if err != nil || len(sets.TaskSets) != 0 {
		t.Fatalf("task sets after refused calls: %v %v", sets, err)
	}
	// Each call takes a good one.
	for _, call := range []string{"RunTask", "StartTask", "CreateService", "CreateTaskSet"} {
		if err := calls[call]("vpcapp", inSubnets("subnet-0aaa")); err != nil {
			t.Errorf("%s with a good network configuration: %v", call, err)
		}
	}
}

// A service on awsvpc spreads its tasks over its subnets, each task with an
// address of its own, scales in (the tasks it stops end STOPPED with their
// interfaces DETACHED) and out again.
func TestAwsvpcServiceScales(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("svc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, awsvpcTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "svc", Instances: 2, CPU: 4096, Memory: 4096})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(4), NetworkConfiguration: inSubnets("subnet-0aaa", "subnet-0bbb")}); err != nil {
		t.Fatal(err)
	}
	live := func(wantCount int) map[string]int {
		t.Helper()
		waitStable(t, c, "svc", "web")
		list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("svc"), ServiceName: aws.String("web")})
		if err != nil || len(list.TaskArns) != wantCount {
			t.Fatalf("running tasks %v %v, want %d", list, err, wantCount)
		}
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("svc"), Tasks: list.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		bySubnet, seen := map[string]int{}, map[string]bool{}
		for _, task := range out.Tasks {
			status, d := eniOf(t, task)
			if status != "ATTACHED" || seen[d["privateIPv4Address"]] {
				t.Fatalf("task %s: interface %s, address %s (seen: %v)", aws.ToString(task.TaskArn), status, d["privateIPv4Address"], seen)
			}
			seen[d["privateIPv4Address"]] = true
			bySubnet[d["subnetId"]]++
		}
		return bySubnet
	}
	if by := live(4); by["subnet-0aaa"] != 2 || by["subnet-0bbb"] != 2 {
		t.Fatalf("4 tasks over 2 subnets: %v", by)
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	live(1)
	stopped, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusStopped})
	if err != nil || len(stopped.TaskArns) != 3 {
		t.Fatalf("stopped tasks %v %v", stopped, err)
	}
	waitUntil(t, "the stopped tasks STOPPED with their interfaces DETACHED", func() bool {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("svc"), Tasks: stopped.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range out.Tasks {
			if status, _ := eniOf(t, task); aws.ToString(task.LastStatus) != "STOPPED" || status != "DETACHED" {
				return false
			}
		}
		return true
	})
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), DesiredCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	live(3)
}
