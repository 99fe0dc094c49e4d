// Command tasks measures how long Berth takes from a RunTask call to the
// agent's RUNNING report, beside a bare `docker run -d` of the same image on
// the same Engine in the same run: the floor any orchestrator on this
// machine stands on. It does so for a bridge-mode EC2 task, and for a
// Fargate (awsvpc) task, whose floor is two `docker run -d`: the pause
// container Berth's agent uses, at an address of a network, and the
// container joined to it.
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
	dockerimage "github.com/docker/docker/api/types/image"
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
	_, err = c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bench-fargate"),
		NetworkMode: types.NetworkModeAwsvpc, RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu: aws.String("256"), Memory: aws.String("512"), ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String(image), Command: []string{"/bin/busybox", "sleep", "3600"}, StopTimeout: aws.Int32(1),
		}}})
	benchkit.Must(err)
	benchkit.WaitAgent(ctx, c)

	var berth, bare, fargate, bareVPC []time.Duration
	for i := 0; i < *runs; i++ {
		berth = append(berth, runTask(ctx, c, bridgeTask))
		bare = append(bare, dockerRun())
	}
	// The first Fargate task makes the agent build its pause image, which
	// the floor then runs too; it is not counted.
	runTask(ctx, c, fargateTask)
	pause := pauseImage(ctx, cli)
	net := benchNetwork()
	defer exec.Command("docker", "network", "rm", net).Run()
	for i := 0; i < *runs; i++ {
		fargate = append(fargate, runTask(ctx, c, fargateTask))
		bareVPC = append(bareVPC, dockerRunJoined(pause, net))
	}
	fmt.Printf("machine: %d CPUs (%s/%s), Docker Engine %s; %d runs of each, alternating\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, benchkit.EngineVersion(ctx, cli), *runs)
	fmt.Println("| case | median | p95 | min | max |")
	fmt.Println("|---|---:|---:|---:|---:|")
	report("Berth: RunTask call to the agent's RUNNING report", berth)
	report("floor: `docker run -d` of the same image (CLI process until it returns)", bare)
	report("Berth: Fargate (awsvpc) RunTask call to the agent's RUNNING report", fargate)
	report("floor: `docker run -d` of the pause image at an address, then of the image joined to it", bareVPC)
}

var (
	bridgeTask  = &ecs.RunTaskInput{TaskDefinition: aws.String("bench")}
	fargateTask = &ecs.RunTaskInput{TaskDefinition: aws.String("bench-fargate"), LaunchType: types.LaunchTypeFargate,
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-bench"}}}}
)

// runTask starts one task and waits for RUNNING; the latency is the
// server's own record: startedAt (set when the agent's report arrived) less
// the moment of the call.
func runTask(ctx context.Context, c *ecs.Client, in *ecs.RunTaskInput) time.Duration {
	start := time.Now()
	out, err := c.RunTask(ctx, in)
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

// pauseImage is the pause image Berth's agent built.
func pauseImage(ctx context.Context, cli *client.Client) string {
	list, err := cli.ImageList(ctx, dockerimage.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "berth.pause=true"))})
	benchkit.Must(err)
	if len(list) == 0 || len(list[0].RepoTags) == 0 {
		log.Fatal("the agent built no pause image")
	}
	return list[0].RepoTags[0]
}

// benchNetwork makes a bridge network for the floor's pause containers, in
// a range Berth's default pool (10.224.0.0/12) does not hand out.
func benchNetwork() string {
	name := fmt.Sprintf("berth-bench-%d", time.Now().UnixNano())
	out, err := exec.Command("docker", "network", "create", "--label", "berth-bench=1", "--subnet", "10.250.77.0/24", name).CombinedOutput()
	if err != nil {
		log.Fatalf("docker network create: %v\n%s", err, out)
	}
	return name
}

// dockerRunJoined is what an awsvpc task is made of: a pause container at
// an address, and the task's container in its network namespace.
func dockerRunJoined(pause, net string) time.Duration {
	start := time.Now()
	p, err := exec.Command("docker", "run", "-d", "--label", "berth-bench=1", "--network", net, "--ip", "10.250.77.9", "-e", "BERTH_PAUSE=1", pause).CombinedOutput()
	if err != nil {
		log.Fatalf("docker run (pause): %v\n%s", err, p)
	}
	id := string(bytes.TrimSpace(p))
	out, err := exec.Command("docker", "run", "-d", "--label", "berth-bench=1", "--network", "container:"+id, image, "/bin/busybox", "sleep", "3600").CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		log.Fatalf("docker run (joined): %v\n%s", err, out)
	}
	exec.Command("docker", "rm", "-f", string(bytes.TrimSpace(out)), id).Run()
	return elapsed
}

func report(name string, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	r := func(x time.Duration) string { return x.Round(time.Millisecond).String() }
	fmt.Printf("| %s | %s | %s | %s | %s |\n", name, r(p(0.5)), r(p(0.95)), r(d[0]), r(d[len(d)-1]))
}

func cleanup(ctx context.Context, cli *client.Client) {
	for _, label := range []string{"berth-bench=1", "com.amazonaws.ecs.task-definition-family=bench", "com.amazonaws.ecs.task-definition-family=bench-fargate"} {
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
		for _, c := range list {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
}
