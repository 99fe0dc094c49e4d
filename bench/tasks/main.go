// Command tasks measures how long Berth takes from a RunTask call to the
// agent's RUNNING report, beside a bare `docker run -d` of the same image on
// the same Engine in the same run: the floor any orchestrator on this
// machine stands on.
//
//	go run ./bench/tasks -berth bin/berth -runs 50
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os/exec"
	"runtime"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/berth-project/berth/bench/internal/benchkit"
)

const image = benchkit.Image

func main() {
	bin := flag.String("berth", "bin/berth", "the berth binary")
	runs := flag.Int("runs", 50, "runs of each case")
	flag.Parse()
	ctx := context.Background()

	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	benchkit.Must(err)
	benchkit.BuildImage(ctx, cli)
	defer cleanup(ctx, cli)

	endpoint, stop := benchkit.StartDev(*bin)
	defer stop()
	c := benchkit.Client(endpoint)
	_, err = c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bench"), ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("main"), Image: aws.String(image), Memory: aws.Int32(16), Command: []string{"/bin/busybox", "sleep", "3600"}, StopTimeout: aws.Int32(1),
	}}})
	benchkit.Must(err)
	benchkit.WaitAgent(ctx, c)

	var berth, bare []time.Duration
	for i := 0; i < *runs; i++ {
		berth = append(berth, runTask(ctx, c))
		bare = append(bare, dockerRun())
	}
	fmt.Printf("machine: %d CPUs (%s/%s), Docker Engine %s; %d runs of each, alternating\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, benchkit.EngineVersion(ctx, cli), *runs)
	fmt.Println("| case | median | p95 | min | max |")
	fmt.Println("|---|---:|---:|---:|---:|")
	report("Berth: RunTask call to the agent's RUNNING report", berth)
	report("floor: `docker run -d` of the same image (CLI process until it returns)", bare)
}

// runTask starts one task and waits for RUNNING; the latency is the
// server's own record: startedAt (set when the agent's report arrived) less
// the moment of the call.
func runTask(ctx context.Context, c *ecs.Client) time.Duration {
	start := time.Now()
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("bench")})
	benchkit.Must(err)
	if len(out.Tasks) != 1 {
		log.Fatalf("RunTask failures: %+v", out.Failures)
	}
	arn := out.Tasks[0].TaskArn
	for {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{*arn}})
		benchkit.Must(err)
		if t := d.Tasks[0]; aws.ToString(t.LastStatus) == "RUNNING" && t.StartedAt != nil {
			elapsed := t.StartedAt.Sub(start)
			c.StopTask(ctx, &ecs.StopTaskInput{Task: arn})
			return elapsed
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func dockerRun() time.Duration {
	start := time.Now()
	out, err := exec.Command("docker", "run", "-d", "--label", "berth-bench=1", image, "/bin/busybox", "sleep", "3600").CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		log.Fatalf("docker run: %v\n%s", err, out)
	}
	exec.Command("docker", "rm", "-f", string(bytes.TrimSpace(out))).Run()
	return elapsed
}

func report(name string, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	r := func(x time.Duration) string { return x.Round(time.Millisecond).String() }
	fmt.Printf("| %s | %s | %s | %s | %s |\n", name, r(p(0.5)), r(p(0.95)), r(d[0]), r(d[len(d)-1]))
}

func cleanup(ctx context.Context, cli *client.Client) {
	for _, label := range []string{"berth-bench=1", "com.amazonaws.ecs.task-definition-family=bench"} {
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
		for _, c := range list {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
}
