package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func TestFargateOnlyFieldsAreRefusedElsewhere(t *testing.T) {
	ctx := context.Background()
	_, c := devShape(t)
	both := fargateTaskDef("both", "256", "512")
	both.RequiresCompatibilities = append(both.RequiresCompatibilities, types.CompatibilityEc2)
	if _, err := c.RegisterTaskDefinition(ctx, both); err != nil {
		t.Fatal(err)
	}
	arm := fargateTaskDef("arm", "256", "512")
	arm.RuntimePlatform = &types.RuntimePlatform{CpuArchitecture: types.CPUArchitectureArm64, OperatingSystemFamily: types.OSFamilyLinux}
	if _, err := c.RegisterTaskDefinition(ctx, arm); err != nil {
		t.Fatal(err)
	}
	member := []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.os-type == linux")}}
	for _, tc := range []struct {
		name      string
		in        *ecs.RunTaskInput
		code, msg string
	}{
		{"a platform version with the EC2 launch type",
			&ecs.RunTaskInput{TaskDefinition: aws.String("both"), LaunchType: types.LaunchTypeEc2, PlatformVersion: aws.String("LATEST"), NetworkConfiguration: awsvpcNet},
			"InvalidParameterException", "The platform version must be null when specifying an EC2 launch type."},
		{"a platform version Fargate does not offer",
			&ecs.RunTaskInput{TaskDefinition: aws.String("both"), LaunchType: types.LaunchTypeFargate, PlatformVersion: aws.String("1.2.0"), NetworkConfiguration: awsvpcNet},
			"PlatformUnknownException", "The specified platform does not exist."},
		{"placement constraints on Fargate",
			&ecs.RunTaskInput{TaskDefinition: aws.String("both"), LaunchType: types.LaunchTypeFargate, PlacementConstraints: member, NetworkConfiguration: awsvpcNet},
			"InvalidParameterException", "Placement constraints are not supported with FARGATE launch type."},
		{"an ARM64 definition on x86_64 capacity",
			&ecs.RunTaskInput{TaskDefinition: aws.String("arm"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet},
			"PlatformTaskDefinitionIncompatibilityException", "One or more of the requested capabilities are not supported."},
		{"a Fargate launch without awsvpc configuration",
			&ecs.RunTaskInput{TaskDefinition: aws.String("both"), LaunchType: types.LaunchTypeFargate},
			"InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := c.RunTask(ctx, tc.in)
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}

	t.Run("a bridge definition is not for Fargate", func(t *testing.T) {
		bridge := fargateTaskDef("bridge", "256", "512")
		bridge.NetworkMode = types.NetworkModeBridge
		_, err := c.RegisterTaskDefinition(ctx, bridge)
		wantAPIError(t, err, "ClientException", "Fargate only supports network mode 'awsvpc'.")
	})
	t.Run("a service with a platform version and the EC2 launch type is refused", func(t *testing.T) {
		_, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("ec2"), TaskDefinition: aws.String("both"), DesiredCount: aws.Int32(0),
			LaunchType: types.LaunchTypeEc2, PlatformVersion: aws.String("1.4.0"), NetworkConfiguration: awsvpcNet})
		wantAPIError(t, err, "InvalidParameterException", "The platform version must be null when specifying an EC2 launch type.")
	})
}

// TestLaunchTypesLandOnTheirKindOfCapacity: EC2 tasks only on EC2
// instances, EXTERNAL tasks only on external (ECS Anywhere) instances,
// FARGATE tasks only on Fargate capacity.
func TestLaunchTypesLandOnTheirKindOfCapacity(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("mixed")}); err != nil {
		t.Fatal(err)
	}
	external := registerTestInstance(t, c, "mixed", "i-0000000000000001", attr("ecs.capability.external", ""))
	srv.Attach("mixed", aws.ToString(external.ContainerInstanceArn), true)
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, fargateTaskDef("fn", "256", "512")); err != nil {
		t.Fatal(err)
	}

	t.Run("EC2 tasks do not land on an external instance", func(t *testing.T) {
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("mixed"), TaskDefinition: aws.String("web"), LaunchType: types.LaunchTypeEc2})
		wantAPIError(t, err, "InvalidParameterException", "No Container Instances were found in your cluster.")
	})

	ec2 := registerTestInstance(t, c, "mixed", "i-0000000000000002")
	srv.Attach("mixed", aws.ToString(ec2.ContainerInstanceArn), true)
	fargate := registerTestInstance(t, c, "mixed", "i-0000000000000003", attr("berth.capacity-provider", "FARGATE"), attr("ecs.capability.task-eni", ""))
	srv.Attach("mixed", aws.ToString(fargate.ContainerInstanceArn), true)

	on := func(out *ecs.RunTaskOutput) string {
		t.Helper()
		if len(out.Tasks) != 1 {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), out.Failures)
		}
		return aws.ToString(out.Tasks[0].ContainerInstanceArn)
	}
	for range 4 {
		if got := on(runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("mixed"), TaskDefinition: aws.String("web"), LaunchType: types.LaunchTypeEc2})); got != aws.ToString(ec2.ContainerInstanceArn) {
			t.Fatalf("an EC2 task on %s", got)
		}
		if got := on(runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("mixed"), TaskDefinition: aws.String("web"), LaunchType: types.LaunchTypeExternal})); got != aws.ToString(external.ContainerInstanceArn) {
			t.Fatalf("an EXTERNAL task on %s", got)
		}
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("mixed"), TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: awsvpcNet})
		if len(out.Tasks) != 1 || out.Tasks[0].ContainerInstanceArn != nil {
			t.Fatalf("a FARGATE task: %+v %v", out.Tasks, out.Failures)
		}
	}
	t.Run("the cluster lists its EC2 and external instances, not its Fargate capacity", func(t *testing.T) {
		got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("mixed")})
		want := sorted(aws.ToString(ec2.ContainerInstanceArn), aws.ToString(external.ContainerInstanceArn))
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("listed %v, want %v", got, want)
		}
	})
}
