package server_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

// ECS answers an empty list as [] and leaves out only what it does not
// answer at all (tags without include=TAGS, for some shapes). The SDK
// decodes [] to a non-nil empty slice and an absent member to nil, which is
// what these tests tell apart. The members are those of the table in
// shapes.go; docs/compatibility.md says where it comes from.

// emptyList fails unless v was answered as [].
func emptyList[T any](t *testing.T, what string, v []T) {
	t.Helper()
	if v == nil {
		t.Errorf("%s is absent; ECS answers []", what)
	} else if len(v) != 0 {
		t.Errorf("%s = %+v; want []", what, v)
	}
}

// absentList fails unless v was left out of the answer.
func absentList[T any](t *testing.T, what string, v []T) {
	t.Helper()
	if v != nil {
		t.Errorf("%s = %+v; ECS leaves it out here", what, v)
	}
}

// missing fails unless failures name exactly arn, as MISSING.
func missing(t *testing.T, what string, failures []types.Failure, arn string) {
	t.Helper()
	if len(failures) != 1 || aws.ToString(failures[0].Arn) != arn || aws.ToString(failures[0].Reason) != "MISSING" {
		t.Errorf("%s failures = %+v; want %s MISSING", what, failures, arn)
	}
}

func arnOf(resource string) string { return "arn:aws:ecs:us-east-1:" + account + ":" + resource }

func TestListOperationsAnswerEmptyListsAsEmpty(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()

	out, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListClusters clusterArns", out.ClusterArns)
	families, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListTaskDefinitionFamilies families", families.Families)
	defs, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListTaskDefinitions taskDefinitionArns", defs.TaskDefinitionArns)
	settings, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListAccountSettings settings", settings.Settings)
	byNamespace, err := c.ListServicesByNamespace(ctx, &ecs.ListServicesByNamespaceInput{Namespace: aws.String("nothing-here")})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListServicesByNamespace serviceArns", byNamespace.ServiceArns)

	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	cluster := aws.String("empty")
	tasks, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListTasks taskArns", tasks.TaskArns)
	services, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListServices serviceArns", services.ServiceArns)
	instances, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListContainerInstances containerInstanceArns", instances.ContainerInstanceArns)
	attrs, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: cluster, TargetType: types.TargetTypeContainerInstance})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListAttributes attributes", attrs.Attributes)
	tags, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arnOf("cluster/empty"))})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListTagsForResource tags", tags.Tags)

	// A service always has a deployment: a status none of them has lists none.
	if _, err := c.RegisterTaskDefinition(ctx, minimalTaskDef("min")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cluster, ServiceName: aws.String("idle"), TaskDefinition: aws.String("min"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	deployments, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: cluster, Service: aws.String("idle"),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusStopped}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "ListServiceDeployments serviceDeployments", deployments.ServiceDeployments)
}

func TestDescribingOnlyMissingResourcesAnswersEmptyListsAndFailures(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	cluster := aws.String("work")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cluster}); err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef"

	clusters, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeClusters clusters", clusters.Clusters)
	missing(t, "DescribeClusters", clusters.Failures, arnOf("cluster/nope"))

	services, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cluster, Services: []string{"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeServices services", services.Services)
	missing(t, "DescribeServices", services.Failures, arnOf("service/work/nope"))

	tasks, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: cluster, Tasks: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeTasks tasks", tasks.Tasks)
	missing(t, "DescribeTasks", tasks.Failures, arnOf("task/work/"+id))

	instances, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: cluster, ContainerInstances: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeContainerInstances containerInstances", instances.ContainerInstances)
	missing(t, "DescribeContainerInstances", instances.Failures, arnOf("container-instance/work/"+id))

	providers, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeCapacityProviders capacityProviders", providers.CapacityProviders)
	missing(t, "DescribeCapacityProviders", providers.Failures, arnOf("capacity-provider/nope"))

	// Task sets are described within a service that exists.
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cluster, ServiceName: aws.String("ext"), DesiredCount: aws.Int32(0),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	setARN := arnOf("task-set/work/ext/ecs-svc/1234567890123456789")
	sets, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cluster, Service: aws.String("ext"), TaskSets: []string{setARN}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeTaskSets taskSets", sets.TaskSets)
	missing(t, "DescribeTaskSets", sets.Failures, setARN)

	deploymentARN := arnOf("service-deployment/work/nope/AbCdEfGhIjKlMnOpQrStU")
	deployments, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{deploymentARN}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeServiceDeployments serviceDeployments", deployments.ServiceDeployments)
	missing(t, "DescribeServiceDeployments", deployments.Failures, deploymentARN)

	revisionARN := arnOf("service-revision/work/nope/1234567890123456789")
	revisions, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{revisionARN}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeServiceRevisions serviceRevisions", revisions.ServiceRevisions)
	missing(t, "DescribeServiceRevisions", revisions.Failures, revisionARN)
}

func TestLaunchingNothingAnswersNoTasksAndTheFailures(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	cluster := aws.String("work")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cluster}); err != nil {
		t.Fatal(err)
	}
	inst := aws.ToString(registerTestInstance(t, c, "work", "i-0000000000000001").ContainerInstanceArn)
	srv.Attach("work", inst, true)
	huge := minimalTaskDef("huge")
	huge.ContainerDefinitions[0].Memory = aws.Int32(100000) // more than the instance has
	if _, err := c.RegisterTaskDefinition(ctx, huge); err != nil {
		t.Fatal(err)
	}

	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: cluster, TaskDefinition: aws.String("huge")})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "RunTask tasks", run.Tasks)
	if len(run.Failures) != 1 || aws.ToString(run.Failures[0].Reason) != "RESOURCE:MEMORY" || aws.ToString(run.Failures[0].Arn) != inst {
		t.Errorf("RunTask failures = %+v; want %s RESOURCE:MEMORY", run.Failures, inst)
	}

	start, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: cluster, TaskDefinition: aws.String("huge"), ContainerInstances: []string{inst}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "StartTask tasks", start.Tasks)
	if len(start.Failures) != 1 || aws.ToString(start.Failures[0].Reason) != "RESOURCE:MEMORY" {
		t.Errorf("StartTask failures = %+v; want RESOURCE:MEMORY", start.Failures)
	}

	const id = "0123456789abcdef0123456789abcdef"
	start, err = c.StartTask(ctx, &ecs.StartTaskInput{Cluster: cluster, TaskDefinition: aws.String("huge"), ContainerInstances: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "StartTask tasks", start.Tasks)
	missing(t, "StartTask", start.Failures, arnOf("container-instance/work/"+id))
}

// TestListTasksOfAnEmptyClusterOnTheWire reads the answer's bytes, as a
// client that is not an SDK (curl, jq, a shell script) sees them.
func TestListTasksOfAnEmptyClusterOnTheWire(t *testing.T) {
	srv := berthtest.Start(t)
	if _, err := srv.Client().CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	status, raw := signedCall(t, srv, "ListTasks", `{"cluster":"empty"}`)
	if status != http.StatusOK || string(bytes.TrimSpace(raw)) != `{"taskArns":[]}` {
		t.Fatalf("ListTasks of an empty cluster: %d %s; want 200 {\"taskArns\":[]}", status, raw)
	}
}

// minimalTaskDef is a task definition with nothing but one container's
// name, image and memory: every list ECS fills in is left to it.
func minimalTaskDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("busybox:latest"), Memory: aws.Int32(128),
		}},
	}
}
