package server_test

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// awsvpcTaskDef is a one-container awsvpc task definition of 128 MiB.
func awsvpcTaskDef(family string) *ecs.RegisterTaskDefinitionInput {
	td := memoryTaskDef(family, 128)
	td.NetworkMode = types.NetworkModeAwsvpc
	td.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
	return td
}

func inSubnets(subnets ...string) *types.NetworkConfiguration {
	if subnets == nil {
		subnets = []string{} // given, and empty: the SDK refuses a missing list itself
	}
	return &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: subnets, SecurityGroups: []string{"sg-0123456789abcdef0"}}}
}

// eniOf is a task's interface as DescribeTasks shows it: its attachment's
// status, and its details by name, checked to come in ECS's order.
func eniOf(t *testing.T, task types.Task) (string, map[string]string) {
	t.Helper()
	if len(task.Attachments) != 1 || aws.ToString(task.Attachments[0].Type) != "ElasticNetworkInterface" {
		t.Fatalf("attachments %+v", task.Attachments)
	}
	a := task.Attachments[0]
	details := map[string]string{}
	var names []string
	for _, d := range a.Details {
		names = append(names, aws.ToString(d.Name))
		details[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	if want := []string{"subnetId", "networkInterfaceId", "macAddress", "privateDnsName", "privateIPv4Address"}; !equalStrings(names, want) {
		t.Fatalf("attachment details %v, want %v", names, want)
	}
	for _, c := range task.Containers {
		if len(c.NetworkInterfaces) != 1 || aws.ToString(c.NetworkInterfaces[0].AttachmentId) != aws.ToString(a.Id) ||
			aws.ToString(c.NetworkInterfaces[0].PrivateIpv4Address) != details["privateIPv4Address"] {
			t.Fatalf("container %s networkInterfaces %+v, attachment %s", aws.ToString(c.Name), c.NetworkInterfaces, aws.ToString(a.Id))
		}
	}
	return aws.ToString(a.Status), details
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func describeTask(t *testing.T, c *ecs.Client, cluster, arn string) types.Task {
	t.Helper()
	out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("describe %s: %v %+v", arn, err, out)
	}
	return out.Tasks[0]
}

// The task's and its interface's statuses move as ECS's do, each step on
// the agent's report (made here by hand): PROVISIONING/PRECREATED,
// PENDING/ATTACHED, RUNNING, STOPPING, DEPROVISIONING while the interface
// is still attached, STOPPED/DETACHED.
func TestAwsvpcTaskStatusesFollowItsInterface(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("vpc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, awsvpcTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	srv.Simulate(simulate.Config{Cluster: "vpc", Instances: 1, CPU: 4096, Memory: 4096, Passive: true})
	out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String("web"), NetworkConfiguration: inSubnets("subnet-0aaa")})
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v", reasons(out.Failures))
	}
	task := out.Tasks[0]
	arn := aws.ToString(task.TaskArn)
	status, d := eniOf(t, task)
	if aws.ToString(task.LastStatus) != "PROVISIONING" || status != "PRECREATED" {
		t.Fatalf("a new awsvpc task is %s with its interface %s", aws.ToString(task.LastStatus), status)
	}
	addr, err := netip.ParseAddr(d["privateIPv4Address"])
	if err != nil || !netip.MustParsePrefix("10.224.0.0/12").Contains(addr) || addr.As4()[3] != 4 {
		t.Fatalf("address %q: want the first address a subnet gives (.4), in the default pool", d["privateIPv4Address"])
	}
	for name, pattern := range map[string]string{
		"subnetId":           `^subnet-0aaa$`,
		"networkInterfaceId": `^eni-[0-9a-f]{17}$`,
		"macAddress":         `^02(:[0-9a-f]{2}){5}$`,
		"privateDnsName":     `^ip-` + regexp.QuoteMeta(strings.ReplaceAll(addr.String(), ".", "-")) + `\.ec2\.internal$`,
	} {
		if !regexp.MustCompile(pattern).MatchString(d[name]) {
			t.Errorf("%s %q does not match %s", name, d[name], pattern)
		}
	}
	if task = describeTask(t, c, "vpc", arn); aws.ToString(task.LastStatus) != "PROVISIONING" {
		t.Fatalf("described %s", aws.ToString(task.LastStatus))
	}
	attachmentARN := "arn:aws:ecs:us-east-1:" + account + ":attachment/" + aws.ToString(task.Attachments[0].Id)
	attach := func(status string) {
		t.Helper()
		if _, err := c.SubmitAttachmentStateChanges(ctx, &ecs.SubmitAttachmentStateChangesInput{Cluster: aws.String("vpc"),
			Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(attachmentARN), Status: aws.String(status)}}}); err != nil {
			t.Fatal(err)
		}
	}
	report := func(status string) {
		t.Helper()
		if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("vpc"), Task: aws.String(arn), Status: aws.String(status),
			Containers: []types.ContainerStateChange{{ContainerName: aws.String("app"), Status: aws.String(status)}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step, last, desired, eni string) {
		t.Helper()
		task = describeTask(t, c, "vpc", arn)
		status, got := eniOf(t, task)
		if aws.ToString(task.LastStatus) != last || aws.ToString(task.DesiredStatus) != desired || status != eni {
			t.Fatalf("after %s: task %s (desired %s), interface %s; want %s (%s), %s", step,
				aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus), status, last, desired, eni)
		}
		if got["privateIPv4Address"] != addr.String() {
			t.Fatalf("after %s: the address moved to %s", step, got["privateIPv4Address"])
		}
	}
	attach("ATTACHED")
	want("ATTACHED", "PENDING", "RUNNING", "ATTACHED")
	attach("ATTACHED") // a report re-sent after a reconnect changes nothing
	want("ATTACHED again", "PENDING", "RUNNING", "ATTACHED")
	report("RUNNING")
	want("RUNNING", "RUNNING", "RUNNING", "ATTACHED")
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("vpc"), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	want("StopTask", "STOPPING", "STOPPED", "ATTACHED")
	report("STOPPED")
	want("the containers' STOPPED", "DEPROVISIONING", "STOPPED", "ATTACHED")
	if task.StopCode != types.TaskStopCodeUserInitiated || task.StoppedAt != nil {
		t.Fatalf("deprovisioning: stop code %s, stoppedAt %v", task.StopCode, task.StoppedAt)
	}
	attach("DETACHED")
	want("DETACHED", "STOPPED", "STOPPED", "DETACHED")
	if task.StopCode != types.TaskStopCodeUserInitiated || task.StoppedAt == nil || aws.ToString(task.StoppedReason) != "Task stopped by user" {
		t.Fatalf("stopped: stop code %s, stoppedAt %v, reason %q", task.StopCode, task.StoppedAt, aws.ToString(task.StoppedReason))
	}
}

// With the simulated agent, which reports the interface as Berth's agent
// does, the SDK's waiters see the task RUNNING and then STOPPED, and a bridge
// task alongside is as it always was: no attachments, PENDING first.
func TestAwsvpcTaskRunsAndStopsWithItsAgent(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("vpc")}); err != nil {
		t.Fatal(err)
	}
	for _, td := range []*ecs.RegisterTaskDefinitionInput{awsvpcTaskDef("web"), memoryTaskDef("plain", 128)} {
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
	}
	srv.Simulate(simulate.Config{Cluster: "vpc", Instances: 1, CPU: 4096, Memory: 4096})
	plain := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String("plain")})
	if len(plain.Tasks) != 1 || aws.ToString(plain.Tasks[0].LastStatus) != "PENDING" || len(plain.Tasks[0].Attachments) != 0 ||
		len(plain.Tasks[0].Containers[0].NetworkInterfaces) != 0 {
		t.Fatalf("a bridge task: %+v", plain.Tasks)
	}
	out := runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String("web"), NetworkConfiguration: inSubnets("subnet-0aaa")})
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v", reasons(out.Failures))
	}
	arns := []string{aws.ToString(out.Tasks[0].TaskArn), aws.ToString(plain.Tasks[0].TaskArn)}
	running := ecs.NewTasksRunningWaiter(c, func(o *ecs.TasksRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := running.Wait(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("vpc"), Tasks: arns}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if status, _ := eniOf(t, describeTask(t, c, "vpc", arns[0])); status != "ATTACHED" {
		t.Fatalf("a RUNNING task's interface is %s", status)
	}
	for _, arn := range arns {
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("vpc"), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := ecs.NewTasksStoppedWaiter(c, func(o *ecs.TasksStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := stopped.Wait(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("vpc"), Tasks: arns}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if status, _ := eniOf(t, describeTask(t, c, "vpc", arns[0])); status != "DETACHED" {
		t.Fatalf("a STOPPED task's interface is %s", status)
	}
}
