package server_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// TestConcurrentRunTaskNeverOvercommits hammers two servers sharing one
// etcd with RunTask calls that ask for more than the fleet has, then checks
// every instance's books: what remains is what it registered less what its
// tasks hold, never below zero, and a static host port is held at most once.
func TestConcurrentRunTaskNeverOvercommits(t *testing.T) {
	ctx := context.Background()
	srv1 := berthtest.Start(t)
	srv2 := berthtest.Start(t, berthtest.WithEtcdEndpoints(srv1.EtcdEndpoints()))
	clients := []*ecs.Client{srv1.Client(), srv2.Client()}
	c := clients[0]
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("hammer")}); err != nil {
		t.Fatal(err)
	}
	const instances, memory = 8, 1024
	fleet := srv1.Simulate(simulate.Config{Cluster: "hammer", Instances: instances, CPU: 4096, Memory: memory, Zones: []string{"a", "b"}, Passive: true})
	if len(fleet.Instances) != instances {
		t.Fatalf("fleet of %d", len(fleet.Instances))
	}
	mem := webTaskDef("mem") // 200 MiB, a dynamic host port
	mem.ContainerDefinitions[0].Memory = aws.Int32(200)
	static := webTaskDef("static") // 64 MiB on host port 80
	static.ContainerDefinitions[0].Memory = aws.Int32(64)
	static.ContainerDefinitions[0].PortMappings[0].HostPort = aws.Int32(80)
	for _, td := range []*ecs.RegisterTaskDefinitionInput{mem, static} {
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
	}

	const callers, calls = 32, 6
	var mu sync.Mutex
	told := map[string]string{} // task ARN -> family, for every task a caller was told was placed
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				family := "mem"
				if (g+i)%3 == 0 {
					family = "static"
				}
				in := &ecs.RunTaskInput{Cluster: aws.String("hammer"), TaskDefinition: aws.String(family), Count: aws.Int32(int32(1 + (g+i)%3))}
				if g%2 == 0 {
					in.PlacementStrategy = []types.PlacementStrategy{{Type: "binpack", Field: aws.String("memory")}}
				}
				out, err := clients[(g+i)%2].RunTask(ctx, in)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, tk := range out.Tasks {
					told[aws.ToString(tk.TaskArn)] = family
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("RunTask under load: %v", err)
	}
	if len(told) == 0 {
		t.Fatal("no task was placed")
	}

	// Every task a caller was told of is stored, on some instance.
	byInstance := map[string][]string{}
	var arns []string
	for arn := range told {
		arns = append(arns, arn)
	}
	for len(arns) > 0 {
		n := min(100, len(arns))
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("hammer"), Tasks: arns[:n]})
		if err != nil || len(out.Failures) != 0 || len(out.Tasks) != n {
			t.Fatalf("describe placed tasks: %v failures %+v", err, out.Failures)
		}
		for _, tk := range out.Tasks {
			inst := aws.ToString(tk.ContainerInstanceArn)
			byInstance[inst] = append(byInstance[inst], told[aws.ToString(tk.TaskArn)])
		}
		arns = arns[n:]
	}
	listed, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("hammer"), MaxResults: aws.Int32(100)})
	if err != nil {
		t.Fatal(err)
	}
	total := len(listed.TaskArns)
	for tok := listed.NextToken; tok != nil; {
		page, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("hammer"), MaxResults: aws.Int32(100), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		total += len(page.TaskArns)
		tok = page.NextToken
	}
	if total != len(told) {
		t.Fatalf("%d tasks stored, callers were told of %d", total, len(told))
	}

	for _, in := range fleet.Instances {
		arn := in.ARN
		held, statics := int32(0), 0
		for _, family := range byInstance[arn] {
			if family == "static" {
				held += 64
				statics++
			} else {
				held += 200
			}
		}
		_, rem, ports := remaining(t, c, "hammer", arn)
		if rem != memory-held || rem < 0 {
			t.Errorf("%s: remaining memory %d, registered %d less tasks' %d is %d", arn, rem, memory, held, memory-held)
		}
		if statics > 1 {
			t.Errorf("%s holds host port 80 for %d tasks", arn, statics)
		}
		port80 := false
		for _, p := range ports {
			port80 = port80 || p == "80"
		}
		if port80 != (statics == 1) {
			t.Errorf("%s: port 80 marked used %v with %d static tasks", arn, port80, statics)
		}
	}
	t.Logf("%d tasks placed on %d instances by %d concurrent callers on two servers", len(told), instances, callers)
}
