// Command services measures a service going from 0 to N tasks and then a
// rolling update of all N, on the local Docker Engine, three ways in one
// run: a Berth service (`berth dev`), a Docker Swarm service (`docker swarm
// init` on loopback) and the physical limit, N bare `docker run -d` with a
// fixed number in flight. The task's process exits on SIGTERM, so stop
// timeouts do not dominate.
//
//	go run ./bench/services -berth bin/berth -tasks 50
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

// command traps SIGTERM and exits at once.
var command = []string{"/bin/busybox", "sh", "-c", `trap "exit 0" TERM; while true; do /bin/busybox sleep 1 & wait $!; done`}

func main() {
	bin := flag.String("berth", "bin/berth", "the berth binary")
	n := flag.Int("tasks", 50, "tasks of the service")
	bareParallel := flag.Int("bare-parallel", 8, "bare docker run processes in flight")
	flag.Parse()
	ctx := context.Background()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	benchkit.Must(err)
	benchkit.BuildImage(ctx, cli)
	fmt.Printf("machine: %d CPUs, %s, Docker Engine %s; %d tasks\n\n", runtime.NumCPU(), runtime.GOARCH, benchkit.EngineVersion(ctx, cli), *n)

	bare := bareRuns(ctx, cli, *n, *bareParallel)
	b := berth(ctx, cli, *bin, *n)
	sw := swarm(ctx, cli, *n)

	fmt.Println("| case | Berth | Docker Swarm | bare `docker run -d` | Berth / Swarm | Berth / bare |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	row := func(name string, berth, swarm, bare time.Duration) {
		ratio := func(a, b time.Duration) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
		}
		bareText := "–"
		if bare > 0 {
			bareText = secs(bare)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", name, secs(berth), secs(swarm), bareText, ratio(berth, swarm), ratio(berth, bare))
	}
	row(fmt.Sprintf("0 to %d running", *n), b.create, sw.create, bare)
	row(fmt.Sprintf("rolling update of %d, 5 at a time", *n), b.update5, sw.update5, 0)
	row(fmt.Sprintf("rolling update of %d, 25 at a time", *n), b.update25, sw.update25, 0)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

type result struct{ create, update5, update25 time.Duration }

// bareRuns is the floor: n `docker run -d`, parallel at a time, timed until
// the last returns (each container is running by then).
func bareRuns(ctx context.Context, cli *client.Client, n, parallel int) time.Duration {
	defer removeLabelled(ctx, cli, "berth-bench=bare")
	start := time.Now()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			args := append([]string{"run", "-d", "--label", "berth-bench=bare", benchkit.Image}, command...)
			if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
				log.Fatalf("docker run: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	log.Printf("bare: %d docker run -d (%d in flight): %s", n, parallel, elapsed)
	return elapsed
}

// berth creates a service of n tasks and waits for services-stable, then
// forces a new deployment with maximumPercent set so that 5 (and then 25)
// tasks are replaced at a time, as Swarm's update-parallelism does.
func berth(ctx context.Context, cli *client.Client, bin string, n int) result {
	endpoint, stop := benchkit.StartDev(bin)
	defer stop()
	defer removeLabelled(ctx, cli, "com.amazonaws.ecs.task-definition-family=bench-svc")
	c := benchkit.Client(endpoint)
	benchkit.WaitAgent(ctx, c)
	_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bench-svc"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("main"), Image: aws.String(benchkit.Image), Memory: aws.Int32(8), Command: command,
	}}})
	benchkit.Must(err)

	var r result
	start := time.Now()
	_, err = c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("bench"), TaskDefinition: aws.String("bench-svc"), DesiredCount: aws.Int32(int32(n))})
	benchkit.Must(err)
	waitStable(ctx, c, n)
	r.create = time.Since(start)
	log.Printf("berth: 0 to %d: %s", n, r.create)

	for _, batch := range []int{5, 25} {
		maxPct := int32(100 + (batch*100+n-1)/n) // room for batch more tasks
		start := time.Now()
		_, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("bench"), ForceNewDeployment: true,
			DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(maxPct), MinimumHealthyPercent: aws.Int32(100)}})
		benchkit.Must(err)
		waitStable(ctx, c, n)
		d := time.Since(start)
		log.Printf("berth: rolling update of %d, maximumPercent %d: %s", n, maxPct, d)
		if batch == 5 {
			r.update5 = d
		} else {
			r.update25 = d
		}
	}
	_, err = c.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("bench"), Force: aws.Bool(true)})
	benchkit.Must(err)
	return r
}

// waitStable polls as `aws ecs wait services-stable` does (one deployment,
// runningCount == desiredCount), every 100 ms.
func waitStable(ctx context.Context, c *ecs.Client, n int) {
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"bench"}})
		if err != nil || len(out.Services) != 1 {
			continue
		}
		s := out.Services[0]
		if len(s.Deployments) == 1 && s.RunningCount == int32(n) && s.DesiredCount == int32(n) {
			return
		}
	}
	log.Fatal("the Berth service never became stable")
}

// swarm does the same with a Docker Swarm service on this Engine.
func swarm(ctx context.Context, cli *client.Client, n int) result {
	docker := func(args ...string) string {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			log.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
	defer exec.Command("docker", "swarm", "leave", "--force").Run()

	var r result
	start := time.Now()
	args := append([]string{"service", "create", "--detach", "--name", "bench", "--replicas", fmt.Sprint(n), "--stop-grace-period", "1s", benchkit.Image}, command...)
	docker(args...)
	for running(ctx, cli) < n {
		time.Sleep(100 * time.Millisecond)
	}
	r.create = time.Since(start)
	log.Printf("swarm: 0 to %d: %s", n, r.create)
	for _, batch := range []int{5, 25} {
		start := time.Now()
		docker("service", "update", "--detach", "--force", "--update-parallelism", fmt.Sprint(batch), "bench")
		for {
			state := docker("service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", "bench")
			if state == "completed" && running(ctx, cli) == n {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		d := time.Since(start)
		log.Printf("swarm: rolling update of %d, parallelism %d: %s", n, batch, d)
		if batch == 5 {
			r.update5 = d
		} else {
			r.update25 = d
		}
	}
	docker("service", "rm", "bench")
	return r
}

// running counts the Swarm service's running containers.
func running(ctx context.Context, cli *client.Client) int {
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.name=bench"))})
	if err != nil {
		return 0
	}
	return len(list)
}

func removeLabelled(ctx context.Context, cli *client.Client, label string) {
	list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	for _, c := range list {
		cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}
