package server_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/simulate"
)

// daemonPair is two servers on one etcd, with a cluster of two simulated
// instances and the task definition "app"; it answers a client of each.
// The first to start normally leads (it campaigns first); tests create
// through both, so that one call goes through a server that does not
// lead whichever does.
func daemonPair(t *testing.T, cluster string) [2]*ecs.Client {
	t.Helper()
	ctx := context.Background()
	first := berthtest.Start(t)
	second := berthtest.Start(t, berthtest.WithEtcdEndpoints(first.EtcdEndpoints()))
	c := second.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("app")); err != nil {
		t.Fatal(err)
	}
	if f := first.Simulate(simulate.Config{Cluster: cluster, Instances: 2, CPU: 4096, Memory: 4096}); len(f.Instances) != 2 {
		t.Fatalf("a fleet of %d", len(f.Instances))
	}
	return [2]*ecs.Client{first.Client(), c}
}

func createDaemon(ctx context.Context, c *ecs.Client, cluster, name string) (*ecs.CreateServiceOutput, error) {
	return c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(name),
		TaskDefinition: aws.String("app"), SchedulingStrategy: types.SchedulingStrategyDaemon})
}

// A DAEMON service created through a server that does not lead used to
// crash the request: the service scheduler's random source, which
// CreateService used to count the instances, was only made by the
// leader's first pass.
func TestDaemonServiceCreatedThroughEitherServer(t *testing.T) {
	ctx := context.Background()
	clients := daemonPair(t, "dmn")
	names := []string{"logs-0", "logs-1"}
	for i, c := range clients {
		out, err := createDaemon(ctx, c, "dmn", names[i])
		if err != nil {
			t.Fatalf("CreateService DAEMON through server %d: %v", i, err)
		}
		if out.Service.DesiredCount != 2 {
			t.Fatalf("created through server %d with desiredCount %d, want 2", i, out.Service.DesiredCount)
		}
	}
	for _, n := range names {
		for i, c := range clients {
			// Each server reads its own copy of the state, which follows
			// etcd's: like ECS's, its answers are eventually consistent.
			waitUntil(t, "server "+fmt.Sprint(i)+" shows "+n, func() bool { d, err := described(ctx, c, n); return err == nil && d != nil })
			if s := describeService(t, c, "dmn", n); s.DesiredCount != 2 {
				t.Fatalf("%s through server %d: desiredCount %d, want 2", n, i, s.DesiredCount)
			}
		}
	}
	waitStable(t, clients[0], "dmn", names...)
	for _, n := range names {
		if per := tasksByInstance(t, clients[1], "dmn", n); !oneOnEach(per, 2) {
			t.Fatalf("%s: running tasks by instance %v, want one on each of 2", n, per)
		}
		if s := describeService(t, clients[1], "dmn", n); s.RunningCount != 2 {
			t.Fatalf("%s: runningCount %d, want 2", n, s.RunningCount)
		}
	}
}

// DAEMON services created and described at once through both servers,
// while the leader's scheduler runs: nothing the requests use is shared
// with the scheduler or with each other (-race tells).
func TestConcurrentDaemonServicesOnBothServers(t *testing.T) {
	ctx := context.Background()
	clients := daemonPair(t, "dmn")
	const services = 6
	names := make([]string, services)
	errs := make(chan error, services)
	var wg sync.WaitGroup
	for i := range services {
		names[i] = fmt.Sprintf("logs-%d", i)
		wg.Go(func() {
			c, other := clients[i%2], clients[(i+1)%2]
			out, err := createDaemon(ctx, c, "dmn", names[i])
			if err != nil {
				errs <- fmt.Errorf("CreateService %s through server %d: %w", names[i], i%2, err)
				return
			}
			if out.Service.DesiredCount != 2 {
				errs <- fmt.Errorf("%s created with desiredCount %d", names[i], out.Service.DesiredCount)
				return
			}
			// At once through the server that created it; through the other
			// once its copy of the state, which follows etcd's, has it.
			for j, c := range []*ecs.Client{c, other} {
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
					d, err := described(ctx, c, names[i])
					if err == nil && d != nil && d.DesiredCount != 2 {
						err = fmt.Errorf("desiredCount %d, want 2", d.DesiredCount)
					}
					if err == nil && d == nil && (j == 0 || time.Now().After(deadline)) {
						err = errors.New("MISSING")
					}
					if err != nil {
						errs <- fmt.Errorf("DescribeServices %s through server %d: %w", names[i], (i+j)%2, err)
						return
					}
					if d != nil {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	waitStable(t, clients[1], "dmn", names...)
	for _, n := range names {
		if per := tasksByInstance(t, clients[0], "dmn", n); !oneOnEach(per, 2) {
			t.Fatalf("%s: running tasks by instance %v, want one on each of 2", n, per)
		}
	}
}

// described answers the service as DescribeServices shows it, nil when
// it answers MISSING.
func described(ctx context.Context, c *ecs.Client, name string) (*types.Service, error) {
	d, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("dmn"), Services: []string{name}})
	if err != nil || len(d.Services) != 1 {
		return nil, err
	}
	return &d.Services[0], nil
}

// oneOnEach: one running task on each of n instances.
func oneOnEach(per map[string]int, n int) bool {
	if len(per) != n {
		return false
	}
	for _, c := range per {
		if c != 1 {
			return false
		}
	}
	return true
}
