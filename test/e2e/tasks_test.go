package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	dockerlabels "github.com/berth-project/berth/agent/docker"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// process is a berth child process (`berth dev`, `berth server` or `berth agent`).
type process struct {
	t    *testing.T
	args []string
	home string
	cmd  *exec.Cmd
	logs bytes.Buffer
}

func (p *process) start() {
	p.t.Helper()
	p.logs.Reset()
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.home}
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *process) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func waitHealthy(t *testing.T, endpoint string, p *process) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(endpoint + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("berth did not become healthy; its output:\n%s", p.logs.String())
}

func sdk(endpoint string) *ecs.Client {
	return ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Retryer: berthtest.ClosedConnRetryer(),
		Credentials: credentials.NewStaticCredentialsProvider(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, ""),
	})
}

// waitTask polls DescribeTasks until ok holds (a wait for an event, not a
// timing assertion: the deadline only bounds a hang).
func waitTask(t *testing.T, c *ecs.Client, arn string, what string, ok func(types.Task) bool) types.Task {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last types.Task
	for time.Now().Before(deadline) {
		out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}})
		if err == nil && len(out.Tasks) == 1 {
			last = out.Tasks[0]
			if ok(last) {
				return last
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("task never became %s; last seen: %s", what, describe(last))
	return last
}

func describe(t types.Task) string {
	s := fmt.Sprintf("lastStatus=%s desired=%s health=%s stopCode=%s reason=%q", aws.ToString(t.LastStatus), aws.ToString(t.DesiredStatus), t.HealthStatus, t.StopCode, aws.ToString(t.StoppedReason))
	for _, c := range t.Containers {
		s += fmt.Sprintf(" [%s %s exit=%v health=%s reason=%q]", aws.ToString(c.Name), aws.ToString(c.LastStatus), aws.ToInt32(c.ExitCode), c.HealthStatus, aws.ToString(c.Reason))
	}
	return s
}

func status(want string) func(types.Task) bool {
	return func(t types.Task) bool { return aws.ToString(t.LastStatus) == want }
}

func containerOf(t types.Task, name string) types.Container {
	for _, c := range t.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	return types.Container{}
}

func register(t *testing.T, c *ecs.Client, family string, containers ...types.ContainerDefinition) {
	t.Helper()
	if _, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: containers}); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, c *ecs.Client, family string) string {
	t.Helper()
	out, err := c.RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(family)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask %s: failures %+v", family, out.Failures)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

func busybox(name string, args ...string) types.ContainerDefinition {
	return types.ContainerDefinition{Name: aws.String(name), Image: aws.String(berthtest.BusyboxImage), Memory: aws.Int32(32),
		Command: append([]string{"/bin/busybox"}, args...), StopTimeout: aws.Int32(2)}
}

// removeTaskContainers removes what the tests' tasks left in Docker.
// removeContainersOf removes the containers the agents of these instances
// created, and no other: other Berths, and other tests, may share the
// Engine.
func removeContainersOf(cli *client.Client, instances []string) {
	ctx := context.Background()
	for _, arn := range instances {
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", dockerlabels.LabelInstance+"="+arn))})
		for _, c := range list {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}

// cleanUpAfter removes, when the test ends (before its Berths are killed,
// if called after they started), the containers of the instances the
// server knows now.
func cleanUpAfter(t *testing.T, docker *client.Client, c *ecs.Client) {
	instances := instanceARNs(c)
	t.Cleanup(func() { removeContainersOf(docker, instances) })
}

// instanceARNs lists the container instances of the default cluster.
func instanceARNs(c *ecs.Client) []string {
	out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{})
	if err != nil {
		return nil
	}
	return out.ContainerInstanceArns
}

func TestTasksOnDocker(t *testing.T) {
	docker := dockerForTasks(t)
	dev, endpoint, c := startDev(t)
	ctx := context.Background()
	waitInstance(t, c)

	web := busybox("web", "httpd", "-f", "-p", "8080", "-h", "/bin")
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080)}}
	web.HealthCheck = &types.HealthCheck{Command: []string{"CMD-SHELL", "/bin/busybox wget -q -O /dev/null http://127.0.0.1:8080/sh"}, Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(3)}
	sidecar := busybox("sidecar", "sleep", "3600")
	sidecar.Essential = aws.Bool(false)
	sidecar.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("web"), Condition: types.ContainerConditionHealthy}}
	register(t, c, "web", web, sidecar)

	var webTask string
	t.Run("a web container with a health check and a dynamic port; its sidecar starts once it is HEALTHY", func(t *testing.T) {
		webTask = run(t, c, "web")
		task := waitTask(t, c, webTask, "RUNNING and HEALTHY", func(t types.Task) bool {
			return aws.ToString(t.LastStatus) == "RUNNING" && t.HealthStatus == types.HealthStatusHealthy
		})
		w := containerOf(task, "web")
		if len(w.NetworkBindings) == 0 || aws.ToInt32(w.NetworkBindings[0].HostPort) == 0 {
			t.Fatalf("no dynamic host port: %s", describe(task))
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/sh", aws.ToInt32(w.NetworkBindings[0].HostPort)))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("the web container does not answer on its host port: %v %v", err, resp)
		}
		resp.Body.Close()
		// The sidecar started after the first passing health check of web.
		wi, err := docker.ContainerInspect(ctx, aws.ToString(w.RuntimeId))
		if err != nil {
			t.Fatal(err)
		}
		si, err := docker.ContainerInspect(ctx, aws.ToString(containerOf(task, "sidecar").RuntimeId))
		if err != nil {
			t.Fatal(err)
		}
		firstHealthy := time.Time{}
		for _, h := range wi.State.Health.Log {
			if h.ExitCode == 0 {
				firstHealthy = h.End
				break
			}
		}
		sidecarStart, _ := time.Parse(time.RFC3339Nano, si.State.StartedAt)
		if firstHealthy.IsZero() || sidecarStart.Before(firstHealthy) {
			t.Fatalf("sidecar started at %v, web first healthy at %v", sidecarStart, firstHealthy)
		}
		labels := wi.Config.Labels
		if labels["com.amazonaws.ecs.task-arn"] != webTask || labels["com.amazonaws.ecs.container-name"] != "web" || labels["com.amazonaws.ecs.task-definition-family"] != "web" {
			t.Fatalf("ECS labels missing: %v", labels)
		}
	})

	t.Run("kill -9 of berth dev: the same containers are adopted again, still RUNNING", func(t *testing.T) {
		before := waitTask(t, c, webTask, "RUNNING", status("RUNNING"))
		dev.kill9()
		dev.start()
		waitHealthy(t, endpoint, dev)
		after := waitTask(t, c, webTask, "RUNNING", status("RUNNING"))
		for _, name := range []string{"web", "sidecar"} {
			if aws.ToString(containerOf(after, name).RuntimeId) != aws.ToString(containerOf(before, name).RuntimeId) {
				t.Fatalf("%s was replaced: %s -> %s", name, aws.ToString(containerOf(before, name).RuntimeId), aws.ToString(containerOf(after, name).RuntimeId))
			}
		}
		list, err := docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+webTask))})
		if err != nil || len(list) != 2 {
			t.Fatalf("containers of the task after the restart: %d (%v)", len(list), err)
		}
	})

	t.Run("StopTask with a reason stops every container", func(t *testing.T) {
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(webTask), Reason: aws.String("deploying v2")}); err != nil {
			t.Fatal(err)
		}
		task := waitTask(t, c, webTask, "STOPPED", status("STOPPED"))
		if task.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(task.StoppedReason) != "deploying v2" || task.StoppedAt == nil {
			t.Fatalf("stopped task: %s", describe(task))
		}
		for _, ct := range task.Containers {
			if aws.ToString(ct.LastStatus) != "STOPPED" {
				t.Fatalf("container still %s: %s", aws.ToString(ct.LastStatus), describe(task))
			}
		}
	})

	t.Run("an essential container exiting 3 stops the task: EssentialContainerExited", func(t *testing.T) {
		register(t, c, "fails", busybox("main", "sh", "-c", "sleep 1; exit 3"))
		task := waitTask(t, c, run(t, c, "fails"), "STOPPED", status("STOPPED"))
		if task.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToInt32(containerOf(task, "main").ExitCode) != 3 {
			t.Fatalf("task: %s", describe(task))
		}
	})

	t.Run("a non-essential container exiting leaves the task RUNNING", func(t *testing.T) {
		helper := busybox("helper", "true")
		helper.Essential = aws.Bool(false)
		register(t, c, "mixed", busybox("main", "sleep", "3600"), helper)
		arn := run(t, c, "mixed")
		task := waitTask(t, c, arn, "RUNNING with its helper done", func(t types.Task) bool {
			return aws.ToString(t.LastStatus) == "RUNNING" && aws.ToString(containerOf(t, "helper").LastStatus) == "STOPPED"
		})
		if aws.ToInt32(containerOf(task, "helper").ExitCode) != 0 || aws.ToString(containerOf(task, "main").LastStatus) != "RUNNING" {
			t.Fatalf("task: %s", describe(task))
		}
		c.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)})
	})

	t.Run("an image that does not exist stops the task with CannotPullContainerError", func(t *testing.T) {
		missing := busybox("main", "true")
		missing.Image = aws.String("berth-test/does-not-exist:1")
		register(t, c, "missing", missing)
		task := waitTask(t, c, run(t, c, "missing"), "STOPPED", status("STOPPED"))
		if task.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(aws.ToString(containerOf(task, "main").Reason), "CannotPullContainerError") {
			t.Fatalf("task: %s", describe(task))
		}
	})
}

// waitInstance waits until the agent of `berth dev` has registered.
func waitInstance(t *testing.T, c *ecs.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: listInstances(c)})
		if err == nil && len(out.ContainerInstances) > 0 && out.ContainerInstances[0].AgentConnected {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the agent of berth dev never connected")
}

// recreateUnstarted replaces a container with one of the same name, labels
// and configuration that Docker has created but not started, and returns
// its id.
func recreateUnstarted(t *testing.T, cli *client.Client, id string) string {
	t.Helper()
	ctx := context.Background()
	old, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	made, err := cli.ContainerCreate(ctx, old.Config, old.HostConfig, nil, nil, strings.TrimPrefix(old.Name, "/"))
	if err != nil {
		t.Fatal(err)
	}
	return made.ID
}

// dockerForTasks is the local Engine with the busybox image built. The
// containers a test's Berths create are removed by cleanUpAfter; nothing
// else on the Engine is touched.
func dockerForTasks(t *testing.T) *client.Client {
	t.Helper()
	docker := berthtest.DockerClient(t)
	berthtest.BuildBusyboxImage(t)
	return docker
}

// startDev runs `berth dev` on a free loopback port with fresh data and
// waits until it serves; it is killed when the test ends, and its output
// shown when the test failed.
func startDev(t *testing.T) (*process, string, *ecs.Client) {
	t.Helper()
	addr := freePort(t)
	endpoint := "http://" + addr
	dev := &process{t: t, args: []string{buildBerth(t), "dev", "--listen", addr, "--data-dir", t.TempDir()}, home: t.TempDir()}
	dev.start()
	c := sdk(endpoint)
	docker := berthtest.DockerClient(t)
	t.Cleanup(func() {
		// What berth dev ran is read from it first, then it is killed, and
		// only then are its containers removed: removed while it runs, a
		// service's would be replaced.
		instances, tasks := instanceARNs(c), allTasks(c)
		dev.kill9()
		removeContainersOf(docker, instances)
		removeTasks(docker, tasks)
		if t.Failed() {
			t.Logf("berth dev's output:\n%s", dev.logs.String())
		}
	})
	waitHealthy(t, endpoint, dev)
	waitInstance(t, c)
	return dev, endpoint, c
}

// allTasks lists every task the server knows, of every cluster, running or
// stopped: Fargate tasks are on capacity that ListContainerInstances does
// not show, so their containers are found by task.
func allTasks(c *ecs.Client) []types.Task {
	ctx := context.Background()
	var out []types.Task
	clusters, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		return nil
	}
	for _, cl := range clusters.ClusterArns {
		for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
			list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cl), DesiredStatus: desired})
			for err == nil && len(list.TaskArns) > 0 {
				n := min(100, len(list.TaskArns))
				if d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cl), Tasks: list.TaskArns[:n]}); err == nil {
					out = append(out, d.Tasks...)
				}
				list.TaskArns = list.TaskArns[n:]
			}
		}
	}
	return out
}

// removeTasks removes the containers of tasks (their pause containers too)
// and the awsvpc networks they were on, once nothing else uses them.
func removeTasks(cli *client.Client, tasks []types.Task) {
	ctx := context.Background()
	nets := map[string]bool{}
	for _, task := range tasks {
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+aws.ToString(task.TaskArn)))})
		for _, ct := range list {
			if ct.NetworkSettings == nil {
				ct.NetworkSettings = &container.NetworkSettingsSummary{}
			}
			for name := range ct.NetworkSettings.Networks {
				if strings.HasPrefix(name, "berth-awsvpc-") {
					nets[name] = true
				}
			}
			cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	for name := range nets {
		cli.NetworkRemove(ctx, name) // refused while another Berth's task is on it
	}
}

func listInstances(c *ecs.Client) []string {
	out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{})
	if err != nil || len(out.ContainerInstanceArns) == 0 {
		return []string{"none"}
	}
	return out.ContainerInstanceArns
}

// TestAgentRestart runs `berth server` and `berth agent` as separate
// processes: a kill -9 of the agent leaves its task running and adopted on
// restart, and a container killed while the agent was down is reported
// STOPPED with its exit code.
func TestAgentRestart(t *testing.T) {
	docker := dockerForTasks(t)
	bin := buildBerth(t)
	addr := freePort(t)
	endpoint := "http://" + addr
	srv := &process{t: t, args: []string{bin, "server", "--listen", addr, "--data-dir", t.TempDir()}, home: t.TempDir()}
	srv.start()
	t.Cleanup(srv.kill9)
	waitHealthy(t, endpoint, srv)
	c := sdk(endpoint)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	agent := &process{t: t, args: []string{bin, "agent", "--server", endpoint, "--cluster", "default", "--data-dir", t.TempDir(), "--availability-zone", "lab-1a"}, home: t.TempDir()}
	agent.start()
	t.Cleanup(agent.kill9)
	waitInstance(t, c)
	cleanUpAfter(t, docker, c)

	register(t, c, "pair", busybox("keep", "sleep", "3600"), busybox("victim", "sleep", "3600"))
	keep := run(t, c, "pair")
	victim := run(t, c, "pair")
	before := waitTask(t, c, keep, "RUNNING", status("RUNNING"))
	if aws.ToString(before.AvailabilityZone) != "lab-1a" {
		t.Fatalf("availabilityZone %q, want the agent's lab-1a", aws.ToString(before.AvailabilityZone))
	}
	v := waitTask(t, c, victim, "RUNNING", status("RUNNING"))
	late := run(t, c, "pair")
	l := waitTask(t, c, late, "RUNNING", status("RUNNING"))

	agent.kill9()
	if err := docker.ContainerKill(ctx, aws.ToString(containerOf(v, "victim").RuntimeId), "KILL"); err != nil {
		t.Fatal(err)
	}
	// An agent killed between creating a container and starting it leaves
	// it created: put one of late's containers in that state.
	created := recreateUnstarted(t, docker, aws.ToString(containerOf(l, "keep").RuntimeId))
	agent.start()

	stopped := waitTask(t, c, victim, "STOPPED", status("STOPPED"))
	if aws.ToInt32(containerOf(stopped, "victim").ExitCode) != 137 || stopped.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Fatalf("the task whose container died while the agent was down: %s", describe(stopped))
	}
	after := waitTask(t, c, keep, "RUNNING", status("RUNNING"))
	if aws.ToString(containerOf(after, "keep").RuntimeId) != aws.ToString(containerOf(before, "keep").RuntimeId) {
		t.Fatalf("the running task's container was replaced")
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		st, err := docker.ContainerInspect(ctx, created)
		if err == nil && st.State.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted agent never started the container it found created: %v %+v", err, st.State)
		}
	}
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(keep), Reason: aws.String("after the restart")}); err != nil {
		t.Fatal(err)
	}
	final := waitTask(t, c, keep, "STOPPED", status("STOPPED"))
	if aws.ToString(final.StoppedReason) != "after the restart" {
		t.Fatalf("stopped after the restart: %s", describe(final))
	}
	instances, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
	if err != nil || len(instances.ContainerInstanceArns) != 1 {
		t.Fatalf("the restarted agent registered a second instance: %v %v", instances, err)
	}
}
