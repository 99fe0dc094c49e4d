package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/berth-project/berth/internal/berthtest"
)

// fargateTaskDefinition is a Fargate task definition in the shape ECS's
// documentation gives: awsvpc, task-level cpu and memory, a web container
// with a health check and a second container that calls it on localhost.
func fargateTaskDefinition(family string) string {
	return fmt.Sprintf(`{
  "family": %q,
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {"name": "web", "image": %q, "essential": true,
     "command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/bin"],
     "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
     "stopTimeout": 2,
     "healthCheck": {"command": ["CMD-SHELL", "/bin/busybox wget -q -O /dev/null http://localhost:8080/sh"],
                     "interval": 5, "timeout": 2, "retries": 3}},
    {"name": "client", "image": %q, "essential": false, "stopTimeout": 2,
     "command": ["/bin/busybox", "sh", "-c", "until /bin/busybox wget -q -O /dev/null http://localhost:8080/sh; do sleep 1; done; echo reached; sleep 3600"],
     "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}]}
  ]
}`, family, berthtest.BusyboxImage, berthtest.BusyboxImage)
}

// detail is the value of one detail of a task's first attachment.
func detail(task types.Task, name string) string {
	if len(task.Attachments) == 0 {
		return ""
	}
	for _, d := range task.Attachments[0].Details {
		if aws.ToString(d.Name) == name {
			return aws.ToString(d.Value)
		}
	}
	return ""
}

// A Fargate task definition runs unchanged on `berth dev`, started with the
// AWS CLI as a deploy script starts it: RUNNING and HEALTHY with no setup,
// its two containers on one localhost, its address from DescribeTasks
// answering from the host; after a kill -9 of berth dev it is adopted at the
// same address, and once stopped its pause container and network are gone.
func TestFargateTaskOnDev(t *testing.T) {
	awsCLI = berthtest.NeedTool(t, "/usr/bin/aws", "aws")
	docker := dockerForTasks(t)
	dev, endpoint, c := startDev(t)
	cli := &server{t: t, endpoint: endpoint}
	ctx := context.Background()

	def := filepath.Join(t.TempDir(), "fargate-web.json")
	if err := os.WriteFile(def, []byte(fargateTaskDefinition("fargate-web")), 0o644); err != nil {
		t.Fatal(err)
	}
	cli.aws(t, "register-task-definition", "--cli-input-json", "file://"+def)
	out := cli.aws(t, "run-task", "--launch-type", "FARGATE", "--task-definition", "fargate-web",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-0f1e2d3c],securityGroups=[sg-0a1b2c3d],assignPublicIp=ENABLED}")
	tasks, _ := out["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("run-task: %v", out)
	}
	arn := tasks[0].(map[string]any)["taskArn"].(string)

	task := waitTask(t, c, arn, "RUNNING and HEALTHY", func(t types.Task) bool {
		return aws.ToString(t.LastStatus) == "RUNNING" && t.HealthStatus == types.HealthStatusHealthy
	})
	addr := detail(task, "privateIPv4Address")
	if task.LaunchType != types.LaunchTypeFargate || aws.ToString(task.PlatformVersion) != "1.4.0" || task.ContainerInstanceArn != nil ||
		aws.ToString(task.Attachments[0].Status) != "ATTACHED" || detail(task, "subnetId") != "subnet-0f1e2d3c" || addr == "" {
		b, _ := json.Marshal(task)
		t.Fatalf("the running Fargate task: %s", b)
	}
	for _, ct := range task.Containers {
		if len(ct.NetworkInterfaces) != 1 || aws.ToString(ct.NetworkInterfaces[0].PrivateIpv4Address) != addr {
			t.Fatalf("container %s: network interfaces %+v, want the task's %s", aws.ToString(ct.Name), ct.NetworkInterfaces, addr)
		}
	}
	answers := func() error {
		hc := http.Client{Timeout: 5 * time.Second}
		resp, err := hc.Get("http://" + addr + ":8080/sh")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := answers(); err != nil {
		t.Fatalf("the task's address %s does not answer from the host: %v", addr, err)
	}
	// The client container reached web on localhost: the two share the
	// task's network namespace.
	client := aws.ToString(containerOf(task, "client").RuntimeId)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(containerLogs(t, docker, client), "reached") {
		if time.Now().After(deadline) {
			t.Fatal("the client container never reached web on localhost")
		}
		time.Sleep(500 * time.Millisecond)
	}

	byTask := filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+arn))
	before, err := docker.ContainerList(ctx, container.ListOptions{Filters: byTask})
	if err != nil || len(before) != 3 { // web, client and the pause container
		t.Fatalf("containers of the task: %d (%v)", len(before), err)
	}
	dev.kill9()
	dev.start()
	waitHealthy(t, endpoint, dev)
	after := waitTask(t, c, arn, "RUNNING after the restart", status("RUNNING"))
	if detail(after, "privateIPv4Address") != addr {
		t.Fatalf("address after the restart %q, want %q", detail(after, "privateIPv4Address"), addr)
	}
	now, err := docker.ContainerList(ctx, container.ListOptions{Filters: byTask})
	if err != nil || !sameContainers(before, now) {
		t.Fatalf("containers after the restart: %d (%v), want the same 3", len(now), err)
	}
	if err := answers(); err != nil {
		t.Fatalf("the adopted task does not answer at %s: %v", addr, err)
	}

	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if err := ecs.NewTasksStoppedWaiter(c).Wait(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	stopped := waitTask(t, c, arn, "STOPPED", status("STOPPED"))
	if aws.ToString(stopped.Attachments[0].Status) != "DETACHED" || stopped.StopCode != types.TaskStopCodeUserInitiated {
		t.Fatalf("the stopped task: attachment %s, stop code %s", aws.ToString(stopped.Attachments[0].Status), stopped.StopCode)
	}
	running, _ := docker.ContainerList(ctx, container.ListOptions{Filters: byTask})
	if len(running) != 0 {
		t.Fatalf("%d containers of the stopped task still run", len(running))
	}
	pause, _ := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "com.amazonaws.ecs.task-arn="+arn), filters.Arg("label", "com.amazonaws.ecs.container-name=~internal~ecs~pause"))})
	if len(pause) != 0 {
		t.Fatalf("the pause container is left: %v", pause[0].Names)
	}
	nets, _ := docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "berth.awsvpc=true"))})
	for _, n := range nets {
		for _, cfg := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(cfg.Subnet); err == nil && p.Contains(netip.MustParseAddr(addr)) {
				t.Fatalf("the task's network %s is left", n.Name)
			}
		}
	}

	// A Fargate task in a cluster made a moment before, as a script makes
	// it: Berth's Fargate capacity joins the new cluster, and the launch
	// waits for it instead of failing.
	cli.aws(t, "create-cluster", "--cluster-name", "fresh")
	out = cli.aws(t, "run-task", "--cluster", "fresh", "--launch-type", "FARGATE", "--task-definition", "fargate-web",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-0f1e2d3c]}")
	if tasks, _ := out["tasks"].([]any); len(tasks) != 1 {
		t.Fatalf("run-task in a new cluster: %v", out)
	}
	fresh := out["tasks"].([]any)[0].(map[string]any)["taskArn"].(string)
	inFresh := &ecs.DescribeTasksInput{Cluster: aws.String("fresh"), Tasks: []string{fresh}}
	if err := ecs.NewTasksRunningWaiter(c).Wait(ctx, inFresh, 2*time.Minute); err != nil {
		t.Fatalf("the task in the new cluster: %v", err)
	}
	cli.aws(t, "stop-task", "--cluster", "fresh", "--task", fresh)
}

func sameContainers(a, b []container.Summary) bool {
	ids := map[string]bool{}
	for _, c := range a {
		ids[c.ID] = true
	}
	for _, c := range b {
		if !ids[c.ID] {
			return false
		}
	}
	return len(a) == len(b)
}

// containerLogs is what a container wrote so far, stdout and stderr.
func containerLogs(t *testing.T, docker *client.Client, id string) string {
	rc, err := docker.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// A Fargate service on `berth dev` rolls to a new revision as on ECS: each
// task at an address of its own that answers from the host, the old tasks
// stopped with their interfaces detached.
func TestFargateServiceRollsOnDev(t *testing.T) {
	dockerForTasks(t)
	_, _, c := startDev(t)
	ctx := context.Background()
	register := func(page string) string {
		out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("site"),
			NetworkMode: types.NetworkModeAwsvpc, RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
			Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(berthtest.BusyboxImage), StopTimeout: aws.Int32(2),
				PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
				Command:      []string{"/bin/busybox", "sh", "-c", "mkdir -p /www && echo " + page + " > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	v1 := register("one")
	network := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-0aa11", "subnet-0bb22"}}}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("site"), TaskDefinition: aws.String(v1), DesiredCount: aws.Int32(2),
		LaunchType: types.LaunchTypeFargate, NetworkConfiguration: network}); err != nil {
		t.Fatal(err)
	}
	pages := func(want string) []types.Task {
		t.Helper()
		var tasks []types.Task
		deadline := time.Now().Add(2 * time.Minute)
		for {
			tasks = tasks[:0]
			list, err := c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("site")})
			if err == nil && len(list.TaskArns) == 2 {
				if d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: list.TaskArns}); err == nil {
					tasks = d.Tasks
				}
			}
			served := 0
			for _, task := range tasks {
				hc := http.Client{Timeout: 2 * time.Second}
				if resp, err := hc.Get("http://" + detail(task, "privateIPv4Address") + ":8080/"); err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if strings.TrimSpace(string(body)) == want {
						served++
					}
				}
			}
			if served == 2 && detail(tasks[0], "privateIPv4Address") != detail(tasks[1], "privateIPv4Address") {
				return tasks
			}
			if time.Now().After(deadline) {
				t.Fatalf("the service's 2 tasks never all served %q at addresses of their own; tasks: %s", want, serviceTasks(c, "site"))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	old := pages("one")
	stable(t, c, "site")
	v2 := register("two")
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("site"), TaskDefinition: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	pages("two")
	stable(t, c, "site")
	for _, task := range old {
		gone := waitTask(t, c, aws.ToString(task.TaskArn), "STOPPED", status("STOPPED"))
		if aws.ToString(gone.Attachments[0].Status) != "DETACHED" {
			t.Fatalf("an old task's interface is %s once it is STOPPED", aws.ToString(gone.Attachments[0].Status))
		}
	}
}
