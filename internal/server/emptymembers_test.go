package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

// The list members inside the shapes Berth answers: [] when empty, as ECS
// sends them (see emptylists_test.go and the table in shapes.go).

func TestAFreshClusterAnswersItsEmptyLists(t *testing.T) {
	ctx := context.Background()
	c := berthtest.Start(t).Client()
	created, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("fresh")})
	if err != nil {
		t.Fatal(err)
	}
	check := func(op string, cl *types.Cluster, settings bool) {
		t.Helper()
		emptyList(t, op+" statistics", cl.Statistics)
		emptyList(t, op+" tags", cl.Tags)
		emptyList(t, op+" capacityProviders", cl.CapacityProviders)
		emptyList(t, op+" defaultCapacityProviderStrategy", cl.DefaultCapacityProviderStrategy)
		if settings {
			emptyList(t, op+" settings", cl.Settings)
		}
		absentList(t, op+" attachments", cl.Attachments) // only with include=ATTACHMENTS
	}
	check("CreateCluster", created.Cluster, false) // it answers the containerInsights setting
	described, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"fresh"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(described.Clusters) != 1 {
		t.Fatalf("DescribeClusters: %+v", described)
	}
	check("DescribeClusters", &described.Clusters[0], true)
	emptyList(t, "DescribeClusters failures", described.Failures)
}

func TestAMinimalTaskDefinitionAnswersItsEmptyLists(t *testing.T) {
	ctx := context.Background()
	c := berthtest.Start(t).Client()
	registered, err := c.RegisterTaskDefinition(ctx, minimalTaskDef("min"))
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "RegisterTaskDefinition tags", registered.Tags)
	check := func(op string, td *types.TaskDefinition) {
		t.Helper()
		emptyList(t, op+" volumes", td.Volumes)
		emptyList(t, op+" placementConstraints", td.PlacementConstraints)
		emptyList(t, op+" requiresAttributes", td.RequiresAttributes)
		if len(td.ContainerDefinitions) != 1 {
			t.Fatalf("%s containerDefinitions: %+v", op, td.ContainerDefinitions)
		}
		cd := td.ContainerDefinitions[0]
		emptyList(t, op+" portMappings", cd.PortMappings)
		emptyList(t, op+" environment", cd.Environment)
		emptyList(t, op+" mountPoints", cd.MountPoints)
		emptyList(t, op+" volumesFrom", cd.VolumesFrom)
		emptyList(t, op+" systemControls", cd.SystemControls)
		absentList(t, op+" secrets", cd.Secrets) // not among what ECS fills in
	}
	check("RegisterTaskDefinition", registered.TaskDefinition)

	described, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("min")})
	if err != nil {
		t.Fatal(err)
	}
	check("DescribeTaskDefinition", described.TaskDefinition)
	absentList(t, "DescribeTaskDefinition tags without include", described.Tags)
	described, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("min"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "DescribeTaskDefinition tags with include=TAGS", described.Tags)
}

func TestANewServiceAnswersItsEmptyLists(t *testing.T) {
	ctx := context.Background()
	c := berthtest.Start(t).Client()
	cluster := aws.String("work")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cluster}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, minimalTaskDef("min")); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cluster, ServiceName: aws.String("idle"), TaskDefinition: aws.String("min"), DesiredCount: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	check := func(op string, s *types.Service) {
		t.Helper()
		if op == "CreateService" {
			emptyList(t, op+" events", s.Events)
		} else if s.Events == nil {
			// By now the scheduler may have written its first events
			// ("has reached a steady state"): a list, maybe not empty.
			t.Errorf("%s events: absent, want a list", op)
		}
		emptyList(t, op+" loadBalancers", s.LoadBalancers)
		emptyList(t, op+" serviceRegistries", s.ServiceRegistries)
		emptyList(t, op+" placementConstraints", s.PlacementConstraints)
		emptyList(t, op+" placementStrategy", s.PlacementStrategy)
		absentList(t, op+" taskSets", s.TaskSets) // ECS answers them for EXTERNAL services only
		if len(s.Deployments) != 1 {
			t.Errorf("%s deployments: %+v", op, s.Deployments)
		}
	}
	check("CreateService", created.Service)
	described, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cluster, Services: []string{"idle"}})
	if err != nil || len(described.Services) != 1 {
		t.Fatalf("DescribeServices: %v %+v", err, described)
	}
	check("DescribeServices", &described.Services[0])
	absentList(t, "DescribeServices tags without include", described.Services[0].Tags)
	emptyList(t, "DescribeServices failures", described.Failures)
	described, err = c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cluster, Services: []string{"idle"}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil || len(described.Services) != 1 {
		t.Fatalf("DescribeServices include=TAGS: %v %+v", err, described)
	}
	emptyList(t, "DescribeServices tags with include=TAGS", described.Services[0].Tags)

	list, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: cluster, Service: aws.String("idle")})
	if err != nil || len(list.ServiceDeployments) != 1 {
		t.Fatalf("ListServiceDeployments: %v %+v", err, list)
	}
	deployments, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)}})
	if err != nil || len(deployments.ServiceDeployments) != 1 {
		t.Fatalf("DescribeServiceDeployments: %v %+v", err, deployments)
	}
	emptyList(t, "the first deployment's sourceServiceRevisions", deployments.ServiceDeployments[0].SourceServiceRevisions)
	emptyList(t, "DescribeServiceDeployments failures", deployments.Failures)
}

func TestAnExternalServiceAndItsTaskSetAnswerTheirEmptyLists(t *testing.T) {
	ctx := context.Background()
	c := berthtest.Start(t).Client()
	cluster := aws.String("work")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cluster}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, minimalTaskDef("min")); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cluster, ServiceName: aws.String("ext"), DesiredCount: aws.Int32(0),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "an EXTERNAL service's taskSets", created.Service.TaskSets)
	emptyList(t, "an EXTERNAL service's deployments", created.Service.Deployments)

	set, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: cluster, Service: aws.String("ext"), TaskDefinition: aws.String("min")})
	if err != nil {
		t.Fatal(err)
	}
	emptyList(t, "CreateTaskSet loadBalancers", set.TaskSet.LoadBalancers)
	emptyList(t, "CreateTaskSet serviceRegistries", set.TaskSet.ServiceRegistries)
	sets, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: cluster, Service: aws.String("ext")})
	if err != nil || len(sets.TaskSets) != 1 {
		t.Fatalf("DescribeTaskSets: %v %+v", err, sets)
	}
	emptyList(t, "DescribeTaskSets loadBalancers", sets.TaskSets[0].LoadBalancers)
	emptyList(t, "DescribeTaskSets serviceRegistries", sets.TaskSets[0].ServiceRegistries)
	absentList(t, "DescribeTaskSets tags without include", sets.TaskSets[0].Tags)
	emptyList(t, "DescribeTaskSets failures", sets.Failures)
}

func TestATaskAndItsInstanceAnswerTheirEmptyLists(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	cluster := aws.String("work")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: cluster}); err != nil {
		t.Fatal(err)
	}
	inst := aws.ToString(registerTestInstance(t, c, "work", "i-0000000000000001").ContainerInstanceArn)
	srv.Attach("work", inst, true)
	if _, err := c.RegisterTaskDefinition(ctx, minimalTaskDef("min")); err != nil {
		t.Fatal(err)
	}

	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: cluster, TaskDefinition: aws.String("min")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	emptyList(t, "RunTask failures", run.Failures)
	check := func(op string, task *types.Task) {
		t.Helper()
		emptyList(t, op+" attachments", task.Attachments)
		emptyList(t, op+" tags", task.Tags)
		if task.Overrides == nil {
			t.Fatalf("%s overrides absent", op)
		}
		emptyList(t, op+" overrides.containerOverrides", task.Overrides.ContainerOverrides)
		emptyList(t, op+" overrides.inferenceAcceleratorOverrides", task.Overrides.InferenceAcceleratorOverrides)
		if len(task.Containers) != 1 {
			t.Fatalf("%s containers: %+v", op, task.Containers)
		}
		emptyList(t, op+" networkBindings", task.Containers[0].NetworkBindings)
		emptyList(t, op+" networkInterfaces", task.Containers[0].NetworkInterfaces)
	}
	check("RunTask", &run.Tasks[0])
	described, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: cluster, Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}})
	if err != nil || len(described.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v %+v", err, described)
	}
	check("DescribeTasks", &described.Tasks[0])
	emptyList(t, "DescribeTasks failures", described.Failures)

	instances, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: cluster, ContainerInstances: []string{inst}})
	if err != nil || len(instances.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances: %v %+v", err, instances)
	}
	emptyList(t, "a container instance's attachments", instances.ContainerInstances[0].Attachments)
	emptyList(t, "a container instance's tags", instances.ContainerInstances[0].Tags)
	emptyList(t, "DescribeContainerInstances failures", instances.Failures)

	providers, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"FARGATE"}})
	if err != nil || len(providers.CapacityProviders) != 1 {
		t.Fatalf("DescribeCapacityProviders: %v %+v", err, providers)
	}
	emptyList(t, "FARGATE's tags", providers.CapacityProviders[0].Tags)
	emptyList(t, "DescribeCapacityProviders failures", providers.Failures)
}
