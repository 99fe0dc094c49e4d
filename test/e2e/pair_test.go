package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/berth-project/berth/internal/berthtest"
)

// berthPair is one Berth as separate processes, `berth server` and
// `berth agent`, each with its own data directory: what `berth dev` runs,
// but on a cluster of the test's own. Tests that run several Berths on the
// one Engine use these rather than `berth dev`, whose cluster is always
// `default`: other tests (and other engineers' runs of them) count and
// remove every container of `default` on the Engine.
type berthPair struct {
	cluster, endpoint string
	server, agent     *process
	api               *ecs.Client
}

// uniqueCluster is a cluster name no other run on this Engine uses, whose
// containers dockerForCluster removes.
func uniqueCluster(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

// dockerForCluster is the local Engine with the busybox image built; the
// cluster's containers are removed when the test ends, after every process
// the test starts later is killed.
func dockerForCluster(t *testing.T, cluster string) {
	t.Helper()
	cli := berthtest.DockerClient(t)
	berthtest.BuildBusyboxImage(t)
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.cluster="+cluster))})
		for _, c := range list {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	})
}

// startPair starts a Berth on a free loopback port with fresh data, creates
// the cluster and waits until its agent has joined it. Both processes are
// killed when the test ends, and their output shown when it failed.
func startPair(t *testing.T, bin, cluster string) *berthPair {
	t.Helper()
	addr := freePort(t)
	p := &berthPair{cluster: cluster, endpoint: "http://" + addr}
	p.server = &process{t: t, args: []string{bin, "server", "--listen", addr, "--data-dir", t.TempDir()}, home: t.TempDir()}
	p.agent = &process{t: t, args: []string{bin, "agent", "--server", p.endpoint, "--cluster", cluster, "--data-dir", t.TempDir()}, home: t.TempDir()}
	p.api = sdk(p.endpoint)
	t.Cleanup(func() {
		for _, proc := range []*process{p.agent, p.server} {
			if proc.cmd != nil {
				proc.kill9()
			}
		}
		if t.Failed() {
			t.Logf("berth server at %s:\n%s\nits berth agent:\n%s", p.endpoint, p.server.logs.String(), p.agent.logs.String())
		}
	})
	p.start(t)
	return p
}

// start starts the server, then the agent, and waits for the agent.
func (p *berthPair) start(t *testing.T) {
	t.Helper()
	p.server.start()
	waitHealthy(t, p.endpoint, p.server)
	ctx := context.Background()
	if _, err := p.api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(p.cluster)}); err != nil {
		t.Fatal(err)
	}
	p.agent.start()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if p.instance(t) != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never joined %s:\n%s", p.cluster, p.agent.logs.String())
		}
	}
}

// restart is a kill -9 of both processes, then a start with the same data.
func (p *berthPair) restart(t *testing.T) {
	t.Helper()
	p.agent.kill9()
	p.server.kill9()
	p.start(t)
}

// instance is the ARN of the agent's container instance once it is
// connected, else "".
func (p *berthPair) instance(t *testing.T) string {
	ctx := context.Background()
	list, err := p.api.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(p.cluster)})
	if err != nil || len(list.ContainerInstanceArns) != 1 {
		return ""
	}
	out, err := p.api.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(p.cluster), ContainerInstances: list.ContainerInstanceArns})
	if err != nil || len(out.ContainerInstances) != 1 || !out.ContainerInstances[0].AgentConnected {
		return ""
	}
	return list.ContainerInstanceArns[0]
}

// run runs a task of the family's latest revision on the pair's cluster.
func (p *berthPair) run(t *testing.T, family string) string {
	t.Helper()
	out, err := p.api.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String(p.cluster), TaskDefinition: aws.String(family)})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask %s: %v %+v", family, err, out)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

// wait polls DescribeTasks until ok holds (a wait for an event, not a
// timing assertion: the deadline only bounds a hang).
func (p *berthPair) wait(t *testing.T, arn, what string, ok func(types.Task) bool) types.Task {
	t.Helper()
	var last types.Task
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := p.api.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(p.cluster), Tasks: []string{arn}})
		if err == nil && len(out.Tasks) == 1 {
			if last = out.Tasks[0]; ok(last) {
				return last
			}
		}
	}
	t.Fatalf("task %s never became %s; last seen: %s", arn, what, describe(last))
	return last
}

// ranAndExited0 is a task that ended as ECS ends one whose only container
// ran and exited 0: EssentialContainerExited, with a startedAt.
func ranAndExited0(task types.Task) error {
	main := containerOf(task, "main")
	if task.StopCode != types.TaskStopCodeEssentialContainerExited || task.StartedAt == nil || main.ExitCode == nil || *main.ExitCode != 0 ||
		aws.ToString(task.StoppedReason) != "Essential container in task exited" {
		return fmt.Errorf("startedAt=%v %s; want EssentialContainerExited, a startedAt and exit code 0", task.StartedAt, describe(task))
	}
	return nil
}
