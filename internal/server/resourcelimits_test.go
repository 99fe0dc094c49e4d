package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// Limits on what a caller may hand the accounting of resources: a
// re-registration must not hand back what running tasks hold, malformed
// totals and oversized launch parameters are refused before they are
// stored or placed.

func describeInstance(t *testing.T, c *ecs.Client, cluster, arn string) types.ContainerInstance {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe instance %s: %v %+v", arn, err, out)
	}
	return out.ContainerInstances[0]
}

func memoryTaskDef(family string, mib int32) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("busybox:latest"), Memory: aws.Int32(mib), Cpu: 256,
		}},
	}
}

func withMemory(rs []types.Resource, mib int32) []types.Resource {
	out := make([]types.Resource, len(rs))
	copy(out, rs)
	for i := range out {
		if aws.ToString(out[i].Name) == "MEMORY" {
			out[i].IntegerValue = mib
		}
	}
	return out
}

func TestReregistrationKeepsWhatRunningTasksHold(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("rereg")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, memoryTaskDef("gig", 1024)); err != nil {
		t.Fatal(err)
	}
	fleet := srv.Simulate(simulate.Config{Cluster: "rereg", Instances: 1, CPU: 4096, Memory: 4096, Zones: []string{"a"}})
	arn := fleet.Instances[0].ARN
	run := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("rereg"), TaskDefinition: aws.String("gig"), Count: aws.Int32(2)})
	if len(run.Tasks) != 2 {
		t.Fatalf("placed %d tasks, failures %v", len(run.Tasks), reasons(run.Failures))
	}
	tasks := []string{aws.ToString(run.Tasks[0].TaskArn), aws.ToString(run.Tasks[1].TaskArn)}

	reregister := func(rs []types.Resource) types.ContainerInstance {
		t.Helper()
		out, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
			Cluster: aws.String("rereg"), ContainerInstanceArn: aws.String(arn), TotalResources: rs,
			VersionInfo: &types.VersionInfo{AgentVersion: aws.String("1.80.0")},
		})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ContainerInstance
	}
	before := describeInstance(t, c, "rereg", arn)

	t.Run("an agent restart with the same totals keeps the tasks' share taken", func(t *testing.T) {
		ci := reregister(before.RegisteredResources)
		if mem, _ := resourceInt(ci.RemainingResources, "MEMORY"); mem != 4096-2*1024 {
			t.Fatalf("remaining MEMORY %d after re-registration, want %d", mem, 4096-2*1024)
		}
		if cpu, _ := resourceInt(ci.RemainingResources, "CPU"); cpu != 4096-2*256 {
			t.Fatalf("remaining CPU %d after re-registration, want %d", cpu, 4096-2*256)
		}
		if got := resourcesString(describeInstance(t, c, "rereg", arn).RemainingResources); got != resourcesString(before.RemainingResources) {
			t.Fatalf("remaining\n got %s\nwant %s", got, resourcesString(before.RemainingResources))
		}
	})

	t.Run("RunTask then does not overcommit the instance", func(t *testing.T) {
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("rereg"), TaskDefinition: aws.String("gig"), Count: aws.Int32(3)})
		if len(out.Tasks) != 2 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:MEMORY" {
			t.Fatalf("placed %d tasks on 2048 MiB left, failures %v", len(out.Tasks), reasons(out.Failures))
		}
		for _, tk := range out.Tasks {
			tasks = append(tasks, aws.ToString(tk.TaskArn))
		}
	})

	t.Run("new totals count from the registered ones less the tasks", func(t *testing.T) {
		ci := reregister(withMemory(before.RegisteredResources, 8192))
		if mem, _ := resourceInt(ci.RemainingResources, "MEMORY"); mem != 8192-4*1024 {
			t.Fatalf("remaining MEMORY %d, want %d", mem, 8192-4*1024)
		}
	})

	t.Run("once the tasks stop, remaining is what is registered", func(t *testing.T) {
		for _, tk := range tasks {
			if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("rereg"), Task: aws.String(tk)}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			rem, reg, _ := remainingMemory(t, c, "rereg", arn)
			if rem > reg {
				t.Fatalf("remaining MEMORY %d is more than the %d registered", rem, reg)
			}
			if rem == reg {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("remaining MEMORY %d of %d after the tasks were stopped", rem, reg)
			}
			time.Sleep(50 * time.Millisecond)
		}
		ci := describeInstance(t, c, "rereg", arn)
		if resourcesString(ci.RemainingResources) != resourcesString(ci.RegisteredResources) {
			t.Fatalf("remaining %s, registered %s", resourcesString(ci.RemainingResources), resourcesString(ci.RegisteredResources))
		}
	})
}

func TestRegistrationRefusesMalformedResources(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bad")}); err != nil {
		t.Fatal(err)
	}
	set := func(rs []types.Resource, name string, values ...string) []types.Resource {
		out := make([]types.Resource, len(rs))
		copy(out, rs)
		for i := range out {
			if aws.ToString(out[i].Name) == name {
				out[i].StringSetValue = values
			}
		}
		return out
	}
	good := agentResources(2048, 4096)
	negCPU := agentResources(-1000, 4096)
	for _, tc := range []struct {
		name string
		rs   []types.Resource
	}{
		{"a negative CPU", negCPU},
		{"a negative MEMORY", agentResources(2048, -1)},
		{"a port that is not a number", set(good, "PORTS", "22", "abc")},
		{"a port above 65535", set(good, "PORTS", "99999")},
		{"a UDP port that is not canonical", set(good, "PORTS_UDP", "053")},
		{"a port listed twice", set(good, "PORTS", "22", "22")},
		{"CPU given twice", append(agentResources(2048, 4096), types.Resource{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 100000})},
		{"a negative longValue", append(agentResources(2048, 4096), types.Resource{Name: aws.String("X"), Type: aws.String("LONG"), LongValue: -5})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("bad"), TotalResources: tc.rs})
			wantAPIError(t, err, "InvalidParameterException", "")
		})
	}
	if n := registeredCount(t, c, "bad"); n != 0 {
		t.Fatalf("%d instances registered from refused calls", n)
	}
	t.Run("a re-registration is refused too and changes nothing", func(t *testing.T) {
		ci := registerTestInstance(t, c, "bad", "i-0bad")
		_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("bad"),
			ContainerInstanceArn: ci.ContainerInstanceArn, TotalResources: negCPU})
		wantAPIError(t, err, "InvalidParameterException", "")
		if cpu, _ := resourceInt(describeInstance(t, c, "bad", aws.ToString(ci.ContainerInstanceArn)).RemainingResources, "CPU"); cpu != 2048 {
			t.Fatalf("remaining CPU %d", cpu)
		}
	})
}

func TestTaskDefinitionsRefuseNegativeLimits(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	t.Run("a negative container cpu", func(t *testing.T) {
		td := memoryTaskDef("negcpu", 128)
		td.ContainerDefinitions[0].Cpu = -1000
		_, err := c.RegisterTaskDefinition(ctx, td)
		wantAPIError(t, err, "ClientException", "Invalid 'cpu' setting for container 'app'. The value must not be negative.")
	})
	t.Run("a negative ulimit", func(t *testing.T) {
		td := memoryTaskDef("negulimit", 128)
		td.ContainerDefinitions[0].Ulimits = []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: -1000, HardLimit: 1024}}
		_, err := c.RegisterTaskDefinition(ctx, td)
		wantAPIError(t, err, "ClientException", "Invalid 'ulimits' setting for container 'app'. The limits of 'nofile' must be -1 (unlimited) or more.")
	})
	t.Run("-1, unlimited, is a ulimit", func(t *testing.T) {
		td := memoryTaskDef("memlock", 128)
		td.ContainerDefinitions[0].Ulimits = []types.Ulimit{{Name: types.UlimitNameMemlock, SoftLimit: -1, HardLimit: -1}}
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a negative cpu override", func(t *testing.T) {
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("neg")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RegisterTaskDefinition(ctx, memoryTaskDef("fine", 128)); err != nil {
			t.Fatal(err)
		}
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("neg"), TaskDefinition: aws.String("fine"),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Cpu: aws.Int32(-4096)}}}})
		wantAPIError(t, err, "InvalidParameterException", "Invalid 'cpu' override for container 'app': it must not be negative.")
	})
}

func TestOversizedOverridesAreRefusedAlone(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, memoryTaskDef("small", 16)); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "big", Instances: 2, CPU: 65536, Memory: 65536, Zones: []string{"a"}})
	env := func(n int) *types.TaskOverride {
		return &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"),
			Environment: []types.KeyValuePair{{Name: aws.String("BLOB"), Value: aws.String(strings.Repeat("x", n))}}}}}
	}
	t.Run("450 KiB of overrides is refused with ECS's message, its neighbours run", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		placed := make([]int, 8)
		for i := range errs {
			wg.Go(func() {
				in := &ecs.RunTaskInput{Cluster: aws.String("big"), TaskDefinition: aws.String("small")}
				if i == 0 { // ten tasks, each recording the overrides
					in.Overrides, in.Count = env(450<<10), aws.Int32(10)
				}
				out, err := c.RunTask(ctx, in)
				errs[i] = err
				if err == nil {
					placed[i] = len(out.Tasks)
				}
			})
		}
		wg.Wait()
		wantAPIError(t, errs[0], "InvalidParameterException", "Container Overrides length must be at most 8192")
		for i := 1; i < len(errs); i++ {
			if errs[i] != nil || placed[i] != 1 {
				t.Fatalf("neighbour %d: %v, %d placed", i, errs[i], placed[i])
			}
		}
	})
	t.Run("overrides just over 8192 characters are refused, under them run", func(t *testing.T) {
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("big"), TaskDefinition: aws.String("small"), Overrides: env(8192)})
		wantAPIError(t, err, "InvalidParameterException", "Container Overrides length must be at most 8192")
		out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("big"), TaskDefinition: aws.String("small"), Overrides: env(7000)})
		if len(out.Tasks) != 1 {
			t.Fatalf("failures %v", reasons(out.Failures))
		}
	})
}

func TestAwsvpcConfigurationLimits(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("vpc")}); err != nil {
		t.Fatal(err)
	}
	td := memoryTaskDef("vpcapp", 128)
	td.NetworkMode = types.NetworkModeAwsvpc
	if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("vpc"), ServiceName: aws.String("ext"),
		DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}}); err != nil {
		t.Fatal(err)
	}
	ids := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, prefix+strings.Repeat("0", 8)+string(rune('a'+i%26))+string(rune('a'+i/26%26)))
		}
		return out
	}
	netConf := func(subnets, groups int) *types.NetworkConfiguration {
		return &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: ids("subnet-", subnets), SecurityGroups: ids("sg-", groups)}}
	}
	calls := map[string]func(*types.NetworkConfiguration) error{
		"CreateService": func(nc *types.NetworkConfiguration) error {
			_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("vpc"), ServiceName: aws.String("web"), TaskDefinition: aws.String("vpcapp"),
				DesiredCount: aws.Int32(0), NetworkConfiguration: nc})
			return err
		},
		"UpdateService": func(nc *types.NetworkConfiguration) error {
			_, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("vpc"), Service: aws.String("web"), NetworkConfiguration: nc})
			return err
		},
		"CreateTaskSet": func(nc *types.NetworkConfiguration) error {
			_, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("vpc"), Service: aws.String("ext"), TaskDefinition: aws.String("vpcapp"), NetworkConfiguration: nc})
			return err
		},
		"RunTask": func(nc *types.NetworkConfiguration) error {
			_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String("vpcapp"), NetworkConfiguration: nc})
			return err
		},
		"StartTask": func(nc *types.NetworkConfiguration) error {
			_, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String("vpcapp"),
				ContainerInstances: []string{"0123456789abcdef0123456789abcdef"}, NetworkConfiguration: nc})
			return err
		},
	}
	for _, name := range []string{"CreateService", "UpdateService", "CreateTaskSet", "RunTask", "StartTask"} {
		call := calls[name]
		t.Run(name, func(t *testing.T) {
			wantAPIError(t, call(netConf(700, 1)), "InvalidParameterException", "subnets can have at most 16 items.")
			wantAPIError(t, call(netConf(17, 1)), "InvalidParameterException", "subnets can have at most 16 items.")
			wantAPIError(t, call(netConf(1, 6)), "InvalidParameterException", "securityGroups can have at most 5 items.")
			// RunTask on a cluster without instances fails on, and only on, that.
			if err := call(netConf(16, 5)); err != nil && !strings.Contains(err.Error(), "No Container Instances were found in your cluster.") {
				t.Fatalf("16 subnets and 5 security groups: %v", err)
			}
		})
	}
}
