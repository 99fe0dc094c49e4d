package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

// runTask runs count tasks of family with the given rules and returns the
// answer, failing the test on an error.
func runTask(t *testing.T, c *ecs.Client, in *ecs.RunTaskInput) *ecs.RunTaskOutput {
	t.Helper()
	out, err := c.RunTask(context.Background(), in)
	if err != nil {
		t.Fatalf("RunTask %s: %v", aws.ToString(in.TaskDefinition), err)
	}
	return out
}

// reasons summarises failures as "reason@instance-id" strings.
func reasons(fs []types.Failure) []string {
	var out []string
	for _, f := range fs {
		arn := aws.ToString(f.Arn)
		out = append(out, aws.ToString(f.Reason)+"@"+arn[strings.LastIndex(arn, "/")+1:])
	}
	return out
}

func TestPlacementRulesAreCheckedAsECSChecksThem(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("rules")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
		t.Fatal(err)
	}
	distinct := types.PlacementConstraint{Type: types.PlacementConstraintTypeDistinctInstance}
	run := func(cons []types.PlacementConstraint, strat []types.PlacementStrategy) error {
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("rules"), TaskDefinition: aws.String("app"),
			PlacementConstraints: cons, PlacementStrategy: strat})
		return err
	}
	for _, tc := range []struct {
		name  string
		cons  []types.PlacementConstraint
		strat []types.PlacementStrategy
		msg   string
	}{
		{"more than 10 constraints", func() []types.PlacementConstraint {
			var cs []types.PlacementConstraint
			for range 11 {
				cs = append(cs, distinct)
			}
			return cs
		}(), nil, "The number of placement constraints (11) exceeds the limit of 10, counting those of the task definition."},
		{"more than 5 strategies", nil, []types.PlacementStrategy{
			{Type: "random"}, {Type: "random"}, {Type: "random"}, {Type: "random"}, {Type: "random"}, {Type: "random"}},
			"The number of placement strategies (6) exceeds the limit of 5."},
		{"binpack on a field it cannot pack", nil, []types.PlacementStrategy{{Type: "binpack", Field: aws.String("disk")}},
			`Invalid field for binpack strategy: "disk". Valid fields are cpu and memory.`},
		{"spread with no field", nil, []types.PlacementStrategy{{Type: "spread"}},
			"The field is required for the spread placement strategy."},
		{"an unknown strategy", nil, []types.PlacementStrategy{{Type: "pack"}},
			"1 validation error detected: Value 'pack' at 'placementStrategy.1.member.type' failed to satisfy constraint: Member must satisfy enum value set: [random, spread, binpack]"},
		{"distinctInstance with an expression", []types.PlacementConstraint{{Type: "distinctInstance", Expression: aws.String("attribute:x == y")}}, nil,
			"An expression cannot be specified for the distinctInstance placement constraint."},
		{"memberOf without one", []types.PlacementConstraint{{Type: "memberOf"}}, nil,
			"An expression is required for the memberOf placement constraint."},
		{"memberOf longer than 2000 characters", []types.PlacementConstraint{{Type: "memberOf", Expression: aws.String("attribute:x == " + strings.Repeat("y", 2000))}}, nil,
			"The placement constraint expression is longer than 2000 characters."},
		{"an unknown constraint", []types.PlacementConstraint{{Type: "sameHost"}}, nil,
			"1 validation error detected: Value 'sameHost' at 'placementConstraints.1.member.type' failed to satisfy constraint: Member must satisfy enum value set: [distinctInstance, memberOf]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, run(tc.cons, tc.strat), "InvalidParameterException", tc.msg)
		})
	}
	t.Run("a memberOf syntax error says where", func(t *testing.T) {
		err := run([]types.PlacementConstraint{{Type: "memberOf", Expression: aws.String("attribute:stack == (prod")}}, nil)
		wantAPIError(t, err, "InvalidParameterException", "")
		if !strings.Contains(err.Error(), "attribute:stack == (prod") || !strings.Contains(err.Error(), "position") {
			t.Fatalf("the message does not point at the error: %v", err)
		}
	})
	t.Run("the task definition's constraints count towards the limit", func(t *testing.T) {
		td := webTaskDef("constrained")
		td.PlacementConstraints = []types.TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: aws.String("attribute:ecs.os-type == linux")}}
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		var cs []types.PlacementConstraint
		for range 10 {
			cs = append(cs, distinct)
		}
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("rules"), TaskDefinition: aws.String("constrained"), PlacementConstraints: cs})
		wantAPIError(t, err, "InvalidParameterException", "The number of placement constraints (11) exceeds the limit of 10, counting those of the task definition.")
	})
	t.Run("nothing is stored by a refused call", func(t *testing.T) {
		out, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("rules")})
		if err != nil || len(out.TaskArns) != 0 {
			t.Fatalf("tasks after refused calls: %v %v", out.TaskArns, err)
		}
	})
}

func TestPlacementFailureReasons(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("why")}); err != nil {
		t.Fatal(err)
	}
	app := webTaskDef("app")
	if _, err := c.RegisterTaskDefinition(ctx, app); err != nil {
		t.Fatal(err)
	}
	in := func(family string, count int32) *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String("why"), TaskDefinition: aws.String(family), Count: aws.Int32(count)}
	}

	t.Run("no instances at all is an error, as in ECS", func(t *testing.T) {
		_, err := c.RunTask(ctx, in("app", 1))
		wantAPIError(t, err, "InvalidParameterException", "No Container Instances were found in your cluster.")
	})

	silent := registerTestInstance(t, c, "why", "i-0000000000000001")
	t.Run("an instance whose agent is not connected: AGENT", func(t *testing.T) {
		out := runTask(t, c, in("app", 1))
		if got := reasons(out.Failures); len(out.Tasks) != 0 || len(got) != 1 || got[0] != "AGENT@"+instanceID(t, aws.ToString(silent.ContainerInstanceArn)) {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), got)
		}
	})

	srv.Attach("why", aws.ToString(silent.ContainerInstanceArn), true)
	t.Run("a capability the instance lacks: ATTRIBUTE", func(t *testing.T) {
		hc := webTaskDef("checked") // a health check needs ecs.capability.container-health-check
		hc.ContainerDefinitions[0].HealthCheck = &types.HealthCheck{Command: []string{"CMD", "true"}}
		if _, err := c.RegisterTaskDefinition(ctx, hc); err != nil {
			t.Fatal(err)
		}
		out := runTask(t, c, in("checked", 1))
		if got := reasons(out.Failures); len(out.Tasks) != 0 || len(got) != 1 || !strings.HasPrefix(got[0], "ATTRIBUTE@") {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), got)
		}
	})

	t.Run("GPUs are handed out by id and run out: RESOURCE:GPU", func(t *testing.T) {
		res := append(agentResources(2048, 7982), types.Resource{Name: aws.String("GPU"), Type: aws.String("STRINGSET"), StringSetValue: []string{"GPU-a", "GPU-b"}})
		reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
			Cluster:                  aws.String("why"),
			InstanceIdentityDocument: aws.String(instanceIdentityDoc("i-0000000000000002", "p3.2xlarge", "us-east-1b", "ami-0123456789abcdef0")),
			TotalResources:           res,
			VersionInfo:              &types.VersionInfo{AgentVersion: aws.String("1.80.0"), AgentHash: aws.String("abc1234"), DockerVersion: aws.String("DockerVersion: 25.0.3")},
		})
		if err != nil {
			t.Fatal(err)
		}
		gpuARN := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
		srv.Attach("why", gpuARN, true)
		gpu := webTaskDef("gpu")
		gpu.ContainerDefinitions[0].ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("1")}}
		if _, err := c.RegisterTaskDefinition(ctx, gpu); err != nil {
			t.Fatal(err)
		}
		out := runTask(t, c, in("gpu", 3))
		// The task that found no room is a failure on every instance tried.
		if got := reasons(out.Failures); len(out.Tasks) != 2 || len(got) != 2 || !strings.HasPrefix(got[0], "RESOURCE:GPU@") || !strings.HasPrefix(got[1], "RESOURCE:GPU@") {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), got)
		}
		seen := map[string]bool{}
		for _, tk := range out.Tasks {
			if aws.ToString(tk.ContainerInstanceArn) != gpuARN {
				t.Fatalf("a GPU task went to %s", aws.ToString(tk.ContainerInstanceArn))
			}
			for _, ct := range tk.Containers {
				for _, id := range ct.GpuIds {
					if seen[id] {
						t.Fatalf("GPU %s handed out twice", id)
					}
					seen[id] = true
				}
			}
		}
		if len(seen) != 2 {
			t.Fatalf("GPU ids on the tasks' containers: %v", seen)
		}
	})

	t.Run("a DRAINING instance gets nothing", func(t *testing.T) {
		if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("why"),
			ContainerInstances: []string{aws.ToString(silent.ContainerInstanceArn)}, Status: types.ContainerInstanceStatusDraining}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("why"), TaskDefinition: aws.String("app"), Count: aws.Int32(4)})
			for _, tk := range out.Tasks {
				if aws.ToString(tk.ContainerInstanceArn) == aws.ToString(silent.ContainerInstanceArn) {
					t.Fatalf("a task was placed on a DRAINING instance")
				}
			}
		}
	})
}

func TestCapacityProviderStrategies(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	for _, name := range []string{"small", "large"} {
		asg := &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String("arn:aws:autoscaling:us-east-1:" + account + ":autoScalingGroup:1:autoScalingGroupName/" + name)}
		if _, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String(name), AutoScalingGroupProvider: asg}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cp"), CapacityProviders: []string{"small", "large"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("large"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
		t.Fatal(err)
	}
	// Instances join a capacity provider with the berth.capacity-provider attribute.
	fleet := map[string]string{}
	for i, p := range []string{"small", "small", "large", "large"} {
		inst := registerTestInstance(t, c, "cp", fmt.Sprintf("i-00000000000000%02d", i), attr("berth.capacity-provider", p))
		if got := aws.ToString(inst.CapacityProviderName); got != p {
			t.Fatalf("instance capacity provider %q, want %q", got, p)
		}
		srv.Attach("cp", aws.ToString(inst.ContainerInstanceArn), true)
		fleet[aws.ToString(inst.ContainerInstanceArn)] = p
	}
	tally := func(t *testing.T, out *ecs.RunTaskOutput) map[string]int {
		t.Helper()
		if len(out.Failures) != 0 {
			t.Fatalf("failures %v", reasons(out.Failures))
		}
		n := map[string]int{}
		for _, tk := range out.Tasks {
			p := aws.ToString(tk.CapacityProviderName)
			if fleet[aws.ToString(tk.ContainerInstanceArn)] != p {
				t.Fatalf("task of provider %q placed on an instance of %q", p, fleet[aws.ToString(tk.ContainerInstanceArn)])
			}
			n[p]++
		}
		return n
	}

	t.Run("the cluster's default strategy applies when the call gives neither", func(t *testing.T) {
		n := tally(t, runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String("app"), Count: aws.Int32(3)}))
		if n["large"] != 3 {
			t.Fatalf("per provider %v", n)
		}
	})
	t.Run("base first, then the rest by weight", func(t *testing.T) {
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String("app"), Count: aws.Int32(10),
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{
				{CapacityProvider: aws.String("small"), Base: 2, Weight: 1},
				{CapacityProvider: aws.String("large"), Weight: 3}}})
		if n := tally(t, out); n["small"] != 4 || n["large"] != 6 { // 2 base, then 8 split 1:3
			t.Fatalf("per provider %v", n)
		}
	})
	t.Run("a launch type overrides the default strategy: EC2 places anywhere", func(t *testing.T) {
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String("app"), Count: aws.Int32(2), LaunchType: types.LaunchTypeEc2})
		if len(out.Tasks) != 2 || out.Tasks[0].LaunchType != types.LaunchTypeEc2 {
			t.Fatalf("tasks %+v failures %v", out.Tasks, reasons(out.Failures))
		}
	})
	t.Run("both a launch type and a strategy is refused", func(t *testing.T) {
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String("app"), LaunchType: types.LaunchTypeEc2,
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("small"), Weight: 1}}})
		wantAPIError(t, err, "InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	})
	t.Run("a strategy without weight is refused, and nothing is stored", func(t *testing.T) {
		before, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("cp")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String("app"),
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("small"), Base: 1}}})
		wantAPIError(t, err, "InvalidParameterException", "There are no capacity providers with a weight value greater than zero defined in the capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy and try again.")
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("weightless"), CapacityProviders: []string{"small"},
			DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("small"), Base: 1}}}); err != nil {
			t.Fatal(err)
		}
		_, err = c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("weightless"), TaskDefinition: aws.String("app")})
		wantAPIError(t, err, "InvalidParameterException", "There are no capacity providers with a weight value greater than zero defined in the default capacity provider strategy. At least one capacity provider must have a weight value greater than zero specified. Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy and try again.")
		after, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("cp")})
		if err != nil || len(after.TaskArns) != len(before.TaskArns) {
			t.Fatalf("tasks before %d, after %d (%v)", len(before.TaskArns), len(after.TaskArns), err)
		}
	})
	t.Run("a provider not associated with the cluster is refused", func(t *testing.T) {
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String("app"),
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}})
		wantAPIError(t, err, "InvalidParameterException", "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
	})
}

// TestHostPortsByNetworkMode checks the ports a task takes on its instance:
// host mode publishes the container port itself, and bridge mode's dynamic
// ports come out of the instance's ephemeral range (32768-60999), which can
// run out.
func TestHostPortsByNetworkMode(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ports")}); err != nil {
		t.Fatal(err)
	}
	// Host mode needs the capability agents claim for it.
	inst := registerTestInstance(t, c, "ports", "i-0000000000000001", attr("com.amazonaws.ecs.capability.task-iam-role-network-host", ""))
	instARN := aws.ToString(inst.ContainerInstanceArn)
	srv.Attach("ports", instARN, true)

	t.Run("host mode takes the container port", func(t *testing.T) {
		host := webTaskDef("host") // container port 8080, no host port
		host.NetworkMode = types.NetworkModeHost
		if _, err := c.RegisterTaskDefinition(ctx, host); err != nil {
			t.Fatal(err)
		}
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("ports"), TaskDefinition: aws.String("host"), Count: aws.Int32(2)})
		if got := reasons(out.Failures); len(out.Tasks) != 1 || len(got) != 1 || !strings.HasPrefix(got[0], "RESOURCE:PORTS@") {
			t.Fatalf("tasks %d failures %v", len(out.Tasks), got)
		}
		_, _, ports := remaining(t, c, "ports", instARN)
		if !slices.Contains(ports, "8080") {
			t.Fatalf("port 8080 not marked used: %v", ports)
		}
	})

	t.Run("dynamic host ports run out with the ephemeral range", func(t *testing.T) {
		wide := &ecs.RegisterTaskDefinitionInput{Family: aws.String("wide"), ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("busybox:latest"), Memory: aws.Int32(6)}}}
		for p := int32(1); p <= 1000; p++ { // 1,000 dynamic ports a task: 28 fit in 28,232
			wide.ContainerDefinitions[0].PortMappings = append(wide.ContainerDefinitions[0].PortMappings, types.PortMapping{ContainerPort: aws.Int32(p)})
		}
		if _, err := c.RegisterTaskDefinition(ctx, wide); err != nil {
			t.Fatal(err)
		}
		placed := 0
		for range 3 {
			out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("ports"), TaskDefinition: aws.String("wide"), Count: aws.Int32(10)})
			placed += len(out.Tasks)
			for _, r := range reasons(out.Failures) {
				if !strings.HasPrefix(r, "RESOURCE:PORTS@") {
					t.Fatalf("failure %s", r)
				}
			}
		}
		if placed != 28 {
			t.Fatalf("%d tasks of 1,000 dynamic ports placed on a range of 28,232", placed)
		}
	})
}

// TestFargateRunsOnDesignatedInstances: capacity designated FARGATE_SPOT
// takes only FARGATE_SPOT's tasks, and EC2 tasks stay off it.
func TestFargateRunsOnDesignatedInstances(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("fg"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"}}); err != nil {
		t.Fatal(err)
	}
	eni := attr("ecs.capability.task-eni", "") // awsvpc tasks need it
	plain := registerTestInstance(t, c, "fg", "i-0000000000000001", eni)
	spot := registerTestInstance(t, c, "fg", "i-0000000000000003", eni, attr("berth.capacity-provider", "FARGATE_SPOT"))
	for _, in := range []types.ContainerInstance{plain, spot} {
		srv.Attach("fg", aws.ToString(in.ContainerInstanceArn), true)
	}
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("fn"), RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate, types.CompatibilityEc2},
		NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("fn"), Image: aws.String("busybox:latest")}},
	}); err != nil {
		t.Fatal(err)
	}
	net := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"}}}
	for range 4 {
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("fg"), TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: net})
		if len(out.Tasks) != 0 || len(out.Failures) != 1 {
			t.Fatalf("launch type FARGATE on FARGATE_SPOT capacity: tasks %d failures %v", len(out.Tasks), out.Failures)
		}
		out = runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("fg"), TaskDefinition: aws.String("fn"), NetworkConfiguration: net,
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}})
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].CapacityProviderName) != "FARGATE_SPOT" || out.Tasks[0].LaunchType != types.LaunchTypeFargate {
			t.Fatalf("FARGATE_SPOT: %+v %v", out.Tasks, out.Failures)
		}
		out = runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("fg"), TaskDefinition: aws.String("fn"), LaunchType: types.LaunchTypeEc2, NetworkConfiguration: net})
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].ContainerInstanceArn) != aws.ToString(plain.ContainerInstanceArn) {
			t.Fatalf("EC2: %+v %v: instances designated for Fargate take Fargate tasks only", out.Tasks, out.Failures)
		}
	}
}
