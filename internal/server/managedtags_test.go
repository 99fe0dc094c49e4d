package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// RunTask and StartTask with enableECSManagedTags tag the task with its
// cluster's name, as ECS does; without it the task has only its own tags.
func TestRunTaskWithManagedTags(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("mt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "mt", Instances: 1, CPU: 4096, Memory: 4096})
	own := []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
	managed := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("mt"), TaskDefinition: aws.String("app"), Tags: own, EnableECSManagedTags: true})
	plain := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("mt"), TaskDefinition: aws.String("app"), Tags: own})
	instance := managed.Tasks[0].ContainerInstanceArn
	started, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("mt"), TaskDefinition: aws.String("app"),
		ContainerInstances: []string{aws.ToString(instance)}, EnableECSManagedTags: true})
	if err != nil || len(started.Tasks) != 1 {
		t.Fatalf("StartTask: %+v %v", started, err)
	}
	for _, tc := range []struct {
		name string
		task types.Task
		want string
	}{
		{"RunTask with managed tags", managed.Tasks[0], "aws:ecs:clusterName=mt,team=a"},
		{"RunTask without", plain.Tasks[0], "team=a"},
		{"StartTask with managed tags", started.Tasks[0], "aws:ecs:clusterName=mt"},
	} {
		if got := tagString(tc.task.Tags); got != tc.want {
			t.Errorf("%s: tags %s in the answer, want %s", tc.name, got, tc.want)
		}
		out, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: tc.task.TaskArn})
		if err != nil || tagString(out.Tags) != tc.want {
			t.Errorf("%s: ListTagsForResource %s (%v), want %s", tc.name, tagString(out.Tags), err, tc.want)
		}
	}
}
