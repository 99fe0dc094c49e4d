package server_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
	"github.com/berth-project/berth/internal/state"
)

// Two servers on one etcd, two clusters each with a placer of its own,
// RunTasks all at once into one subnet that none of them has seen before:
// the subnet gets one range, and no two tasks get one address.
func TestAwsvpcAddressesAreNeverShared(t *testing.T) {
	ctx := context.Background()
	srv1 := berthtest.Start(t)
	srv2 := berthtest.Start(t, berthtest.WithEtcdEndpoints(srv1.EtcdEndpoints()))
	clients := []*ecs.Client{srv1.Client(), srv2.Client()}
	clusters := []string{"blue", "green"}
	for _, cl := range clusters {
		if _, err := clients[0].CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cl)}); err != nil {
			t.Fatal(err)
		}
		srv1.Simulate(simulate.Config{Cluster: cl, Instances: 4, CPU: 16384, Memory: 16384, Passive: true})
	}
	if _, err := clients[0].RegisterTaskDefinition(ctx, awsvpcTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	const callers, calls, count = 4, 3, 3 // per server and cluster: 2*2*4*3*3 = 144 tasks
	var mu sync.Mutex
	var tasks []types.Task
	var wg sync.WaitGroup
	for _, c := range clients {
		for _, cl := range clusters {
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range calls {
						out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cl), TaskDefinition: aws.String("web"), Count: aws.Int32(count),
							NetworkConfiguration: inSubnets("subnet-0shared")})
						if err != nil {
							t.Error(err)
							return
						}
						if len(out.Failures) > 0 {
							t.Errorf("failures: %v", reasons(out.Failures))
						}
						mu.Lock()
						tasks = append(tasks, out.Tasks...)
						mu.Unlock()
					}
				}()
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if want := 2 * 2 * callers * calls * count; len(tasks) != want {
		t.Fatalf("%d tasks, want %d", len(tasks), want)
	}
	owner := map[string]string{}
	var ranges []netip.Prefix
	for _, task := range tasks {
		_, d := eniOf(t, task)
		ip := d["privateIPv4Address"]
		if prev, dup := owner[ip]; dup {
			t.Fatalf("address %s given to %s and %s", ip, prev, aws.ToString(task.TaskArn))
		}
		owner[ip] = aws.ToString(task.TaskArn)
		p, err := netip.MustParseAddr(ip).Prefix(24)
		if err != nil {
			t.Fatal(err)
		}
		if len(ranges) == 0 || ranges[0] != p {
			ranges = append(ranges, p)
		}
	}
	if len(ranges) != 1 {
		t.Fatalf("one subnet, addresses from ranges %v", ranges)
	}
}

// A pinned /29 holds three task addresses (.4, .5, .6). An address is held
// until its task is STOPPED, not merely told to stop or DEPROVISIONING; then
// the next task gets it. Tasks recorded STOPPED because their instance was
// deregistered give theirs back too.
func TestAwsvpcAddressesAreReusedOnceStopped(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithAwsvpcPool(state.AddressPool{Pinned: map[string]netip.Prefix{"subnet-0tiny": netip.MustParsePrefix("192.168.77.0/29")}}))
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tiny")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, awsvpcTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	fleet := srv.Simulate(simulate.Config{Cluster: "tiny", Instances: 1, CPU: 4096, Memory: 4096, Passive: true})
	run := func(n int32) *ecs.RunTaskOutput {
		t.Helper()
		return runTask(t, c, &ecs.RunTaskInput{Cluster: aws.String("tiny"), TaskDefinition: aws.String("web"), Count: aws.Int32(n), NetworkConfiguration: inSubnets("subnet-0tiny")})
	}
	addrOf := func(task types.Task) string { _, d := eniOf(t, task); return d["privateIPv4Address"] }
	out := run(4)
	if len(out.Tasks) != 3 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:ENI" {
		t.Fatalf("4 tasks on a /29: %d placed, failures %v", len(out.Tasks), reasons(out.Failures))
	}
	byAddr := map[string]string{}
	for _, task := range out.Tasks {
		byAddr[addrOf(task)] = aws.ToString(task.TaskArn)
	}
	for _, want := range []string{"192.168.77.4", "192.168.77.5", "192.168.77.6"} {
		if byAddr[want] == "" {
			t.Fatalf("addresses %v, want .4 to .6", byAddr)
		}
	}
	attachmentOf := func(arn string) string {
		return "arn:aws:ecs:us-east-1:" + account + ":attachment/" + aws.ToString(describeTask(t, c, "tiny", arn).Attachments[0].Id)
	}
	// deprovision brings a task to DEPROVISIONING as its agent would: the
	// interface ATTACHED, then told to stop, then its containers STOPPED.
	deprovision := func(arn string, check func()) {
		t.Helper()
		if _, err := c.SubmitAttachmentStateChanges(ctx, &ecs.SubmitAttachmentStateChangesInput{Cluster: aws.String("tiny"),
			Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(attachmentOf(arn)), Status: aws.String("ATTACHED")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("tiny"), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		check()
		if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("tiny"), Task: aws.String(arn), Status: aws.String("STOPPED")}); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(describeTask(t, c, "tiny", arn).LastStatus); got != "DEPROVISIONING" {
			t.Fatalf("stopped with its interface attached: %s", got)
		}
	}
	middle := byAddr["192.168.77.5"]
	attachment := attachmentOf(middle)
	deprovision(middle, func() {
		if out := run(1); len(out.Tasks) != 0 {
			t.Fatalf("a task told to stop still holds its address; got %s", addrOf(out.Tasks[0]))
		}
	})
	if out := run(1); len(out.Tasks) != 0 {
		t.Fatalf("a DEPROVISIONING task still holds its address; got %s", addrOf(out.Tasks[0]))
	}
	// The agent reports the interface gone in a task report this time.
	if _, err := c.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("tiny"), Task: aws.String(middle), Status: aws.String("STOPPED"),
		Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(attachment), Status: aws.String("DETACHED")}}}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(describeTask(t, c, "tiny", middle).LastStatus); got != "STOPPED" {
		t.Fatalf("after DETACHED: %s", got)
	}
	out = run(1)
	if len(out.Tasks) != 1 || addrOf(out.Tasks[0]) != "192.168.77.5" {
		t.Fatalf("after the task STOPPED: %d tasks (failures %v), want one at .5", len(out.Tasks), reasons(out.Failures))
	}

	// Deregistered with its tasks: they are recorded STOPPED, their
	// interfaces DETACHED, and a new instance's tasks get the addresses.
	// One was DEPROVISIONING: it keeps the stop it had.
	first := byAddr["192.168.77.4"]
	deprovision(first, func() {})
	if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("tiny"),
		ContainerInstance: aws.String(fleet.Instances[0].ARN), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	var live []string
	for addr, arn := range byAddr {
		if addr != "192.168.77.5" {
			live = append(live, arn)
		}
	}
	live = append(live, aws.ToString(out.Tasks[0].TaskArn))
	waitUntil(t, "the deregistered instance's tasks STOPPED", func() bool {
		got, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("tiny"), Tasks: live})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range got.Tasks {
			if aws.ToString(task.LastStatus) != "STOPPED" {
				return false
			}
			if status, _ := eniOf(t, task); status != "DETACHED" {
				t.Fatalf("a lost task's interface is %s", status)
			}
			if aws.ToString(task.TaskArn) == first && task.StopCode != types.TaskStopCodeUserInitiated {
				t.Fatalf("the task stopped by its user before its instance was lost: %s, %s", task.StopCode, aws.ToString(task.StoppedReason))
			}
		}
		return true
	})
	srv.Simulate(simulate.Config{Cluster: "tiny", Instances: 1, CPU: 4096, Memory: 4096, Passive: true})
	if out := run(3); len(out.Tasks) != 3 {
		t.Fatalf("on a new instance: %d tasks, failures %v", len(out.Tasks), reasons(out.Failures))
	}
}
