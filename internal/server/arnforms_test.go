package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// arnFleet is a cluster with one simulated instance, a service "web" of one
// task and a RunTask task, made after the account's long ARN formats were
// set to value ("enabled" or "disabled").
func arnFleet(t *testing.T, value string) (c *ecs.Client, service, task, instance string) {
	t.Helper()
	ctx := context.Background()
	srv := berthtest.Start(t)
	c = srv.Client()
	for _, name := range []types.SettingName{types.SettingNameServiceLongArnFormat, types.SettingNameTaskLongArnFormat, types.SettingNameContainerInstanceLongArnFormat} {
		if _, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: name, Value: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("arns")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "arns", Instances: 1, CPU: 4096, Memory: 4096})
	out, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("arns"), ServiceName: aws.String("web"), TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	run := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("arns"), TaskDefinition: aws.String("app")})
	if len(run.Tasks) != 1 {
		t.Fatalf("RunTask placed nothing: %+v", run.Failures)
	}
	return c, aws.ToString(out.Service.ServiceArn), aws.ToString(run.Tasks[0].TaskArn), aws.ToString(run.Tasks[0].ContainerInstanceArn)
}

func apiErrorCode(err error) (string, string) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	return "", ""
}

// Every ARN Berth hands out is accepted back: in the long format by the
// tagging operations too, and in the short format (an account that disabled
// the long ARN formats) by every operation that takes the resource, while
// tagging refuses it as ECS does. An ARN of a resource that does not exist
// gets ECS's not-found exception.
func TestARNsBerthHandsOutAreAccepted(t *testing.T) {
	ctx := context.Background()
	t.Run("long ARNs of services and tasks and instances can be tagged", func(t *testing.T) {
		c, service, task, instance := arnFleet(t, "enabled")
		for _, arn := range []string{service, task, instance} {
			if strings.Count(arn, "/") != 2 {
				t.Fatalf("%s is not a long ARN", arn)
			}
			if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}); err != nil {
				t.Fatalf("TagResource %s: %v", arn, err)
			}
			out, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			if err != nil || tagString(out.Tags) != "team=a" {
				t.Fatalf("ListTagsForResource %s: %v %v", arn, tagString(out.Tags), err)
			}
			if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
				t.Fatalf("UntagResource %s: %v", arn, err)
			}
		}
		d, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("arns"), Services: []string{service}})
		if err != nil || len(d.Services) != 1 || aws.ToString(d.Services[0].Status) != "ACTIVE" {
			t.Fatalf("the service after tagging: %+v %v", d, err)
		}
		gone := strings.Replace(service, "/web", "/absent", 1)
		_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(gone), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		if code, _ := apiErrorCode(err); code != "ResourceNotFoundException" {
			t.Fatalf("tagging an unknown service: %v, want ResourceNotFoundException", err)
		}
	})

	t.Run("short ARNs are handed out with the long formats disabled and work everywhere but tagging", func(t *testing.T) {
		c, service, task, instance := arnFleet(t, "disabled")
		for _, arn := range []string{service, task, instance} {
			if strings.Count(arn, "/") != 1 {
				t.Fatalf("%s is not a short ARN", arn)
			}
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			if code, msg := apiErrorCode(err); code != "InvalidParameterException" || msg != "Long arn format must be used for tagging operations" {
				t.Fatalf("tagging short ARN %s: %v", arn, err)
			}
		}
		ds, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("arns"), Services: []string{service}})
		if err != nil || len(ds.Services) != 1 || aws.ToString(ds.Services[0].ServiceArn) != service {
			t.Fatalf("DescribeServices by short ARN: %+v %v", ds, err)
		}
		if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("arns"), Service: aws.String(service), DesiredCount: aws.Int32(0)}); err != nil {
			t.Fatalf("UpdateService by short ARN: %v", err)
		}
		dt, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("arns"), Tasks: []string{task}})
		if err != nil || len(dt.Tasks) != 1 || aws.ToString(dt.Tasks[0].TaskArn) != task || aws.ToString(dt.Tasks[0].ContainerInstanceArn) != instance {
			t.Fatalf("DescribeTasks by short ARN: %+v %v", dt, err)
		}
		di, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("arns"), ContainerInstances: []string{instance}})
		if err != nil || len(di.ContainerInstances) != 1 {
			t.Fatalf("DescribeContainerInstances by short ARN: %+v %v", di, err)
		}
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("arns"), Task: aws.String(task)}); err != nil {
			t.Fatalf("StopTask by short ARN: %v", err)
		}
		if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("arns"), Service: aws.String(service), Force: aws.Bool(true)}); err != nil {
			t.Fatalf("DeleteService by short ARN: %v", err)
		}
	})
}
