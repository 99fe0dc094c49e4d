package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// readmeEndpoint is the endpoint README.md's commands name (`make run`'s).
const readmeEndpoint = "http://127.0.0.1:8450"

// TestReadmeQuickStart runs the commands of README.md's "Running a task",
// the blocks marked <!-- readme-test: quick-start --> and <!-- readme-test:
// clean-up -->, as a user pastes them into a shell from the repository root:
// with the AWS CLI, against a `berth dev` of its own whose port replaces
// 8450. It fails when a command fails, or when examples/ no longer run.
func TestReadmeQuickStart(t *testing.T) {
	cli := berthtest.NeedTool(t, "/usr/bin/aws") // Debian's AWS CLI v2, as a user of the README has
	for _, tool := range []string{"make", "docker", "curl"} {
		berthtest.NeedTool(t, tool)
	}
	docker := berthtest.DockerClient(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fargate := readmeBlock(t, string(readme), "fargate")
	quickStart, cleanUp := readmeBlock(t, string(readme), "quick-start"), readmeBlock(t, string(readme), "clean-up")
	var svc struct {
		ServiceName  string
		DesiredCount int32
	}
	if b, err := os.ReadFile("../../examples/service.json"); err != nil || json.Unmarshal(b, &svc) != nil || svc.ServiceName == "" {
		t.Fatalf("examples/service.json: %v %+v", err, svc)
	}

	dev, endpoint, c := startDev(t)
	t.Cleanup(func() {
		// Only the containers of this berth dev's tasks: the Engine is shared.
		arns := familyTasks(t, c, "")
		dev.kill9()
		for _, tk := range arns {
			list, _ := docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+aws.ToString(tk.TaskArn)))})
			for _, ct := range list {
				docker.ContainerRemove(context.Background(), ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
	})
	waitInstance(t, c)
	sh := newReadmeShell(t, cli, endpoint)
	sh.run(fargate)
	if tasks := familyTasks(t, c, "web-fargate"); len(tasks) != 1 || tasks[0].LaunchType != types.LaunchTypeFargate || aws.ToString(tasks[0].DesiredStatus) != "STOPPED" {
		t.Fatalf("the Fargate task (examples/fargate.json): want one, FARGATE, told to stop; got %s", describeAll(tasks))
	}
	sh.run(quickStart)

	hello := familyTasks(t, c, "hello")
	if len(hello) != 1 || aws.ToString(hello[0].LastStatus) != "STOPPED" || len(hello[0].Containers) == 0 || aws.ToInt32(hello[0].Containers[0].ExitCode) != 0 {
		t.Fatalf("the one-shot task (examples/hello.json): want one, STOPPED with exit 0; got %s", describeAll(hello))
	}
	var web []types.Task
	for _, tk := range familyTasks(t, c, "web") {
		if aws.ToString(tk.StartedBy) == "" { // not the service's
			web = append(web, tk)
		}
	}
	if len(web) != 1 || aws.ToString(web[0].LastStatus) != "RUNNING" || len(web[0].Containers) == 0 || len(web[0].Containers[0].NetworkBindings) == 0 {
		t.Fatalf("the web task (examples/web.json): want one, RUNNING with a host port; got %s", describeAll(web))
	}
	page := fmt.Sprintf("http://127.0.0.1:%d/", aws.ToInt32(web[0].Containers[0].NetworkBindings[0].HostPort))
	resp, err := http.Get(page)
	if err != nil {
		t.Fatalf("the web task does not serve its page: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET %s: %s %q", page, resp.Status, body)
	}
	if s := stable(t, c, svc.ServiceName); s.DesiredCount != svc.DesiredCount || s.RunningCount != svc.DesiredCount {
		t.Fatalf("service %s: running %d desired %d, examples/service.json asks %d", svc.ServiceName, s.RunningCount, s.DesiredCount, svc.DesiredCount)
	}

	sh.run(cleanUp)
	waitTask(t, c, aws.ToString(web[0].TaskArn), "STOPPED after the clean-up", status("STOPPED"))
	if s := service(t, c, svc.ServiceName); aws.ToString(s.Status) != "INACTIVE" {
		t.Fatalf("service %s after the clean-up: %s", svc.ServiceName, aws.ToString(s.Status))
	}
}

// readmeBlock is the command block (indented, or fenced) that follows the
// line <!-- readme-test: name ... --> in the README, one command a line.
func readmeBlock(t *testing.T, readme, name string) []string {
	t.Helper()
	lines := strings.Split(readme, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "<!-- readme-test: "+name+" ") {
			start = i + 1
			break
		}
	}
	for start >= 0 && start < len(lines) && strings.TrimSpace(lines[start]) == "" {
		start++
	}
	if start < 0 || start >= len(lines) {
		t.Fatalf("README.md has no command block after <!-- readme-test: %s -->", name)
	}
	var block []string
	if fenced := strings.HasPrefix(lines[start], "```"); fenced {
		for _, l := range lines[start+1:] {
			if strings.HasPrefix(l, "```") {
				break
			}
			block = append(block, l)
		}
	} else {
		for _, l := range lines[start:] {
			if !strings.HasPrefix(l, "    ") && strings.TrimSpace(l) != "" {
				break
			}
			block = append(block, strings.TrimPrefix(l, "    "))
		}
	}
	var cmds []string
	for _, l := range block {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		// Every aws command names the endpoint, or it would go to AWS.
		if strings.Count(l, "aws ") != strings.Count(l, "aws --endpoint-url "+readmeEndpoint+" ") {
			t.Fatalf("README command without --endpoint-url %s: %s", readmeEndpoint, l)
		}
		cmds = append(cmds, l)
	}
	if len(cmds) == 0 {
		t.Fatalf("README.md's block %q has no commands", name)
	}
	return cmds
}

// readmeShell runs README commands one by one with bash, from the
// repository root, in a user's environment: the README's exported
// variables, the AWS CLI first on PATH, and the variables that earlier
// commands set (NAME=$(command)).
type readmeShell struct {
	t        *testing.T
	endpoint string
	env      []string
}

var assignment = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)$`)

func newReadmeShell(t *testing.T, cli, endpoint string) *readmeShell {
	bin, home := t.TempDir(), t.TempDir()
	if err := os.Symlink(cli, filepath.Join(bin, "aws")); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + auth.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + auth.DefaultSecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
	}
	for _, k := range []string{"DOCKER_HOST", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return &readmeShell{t: t, endpoint: endpoint, env: env}
}

func (s *readmeShell) run(cmds []string) {
	s.t.Helper()
	for _, line := range cmds {
		script, name := strings.ReplaceAll(line, readmeEndpoint, s.endpoint), ""
		if m := assignment.FindStringSubmatch(script); m != nil {
			name, script = m[1], m[2]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = "../..", s.env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		value := strings.TrimRight(stdout.String(), "\n")
		if err == nil && name != "" && (value == "" || value == "None") {
			err = fmt.Errorf("%s is empty", name)
		}
		if err != nil {
			s.t.Fatalf("README command failed: %s\n%v\n%s%s", line, err, stdout.String(), stderr.String())
		}
		s.t.Logf("$ %s\n%s", line, stdout.String())
		if name != "" {
			s.env = append(s.env, name+"="+value)
		}
	}
}

// familyTasks describes the tasks of a family ("": all), stopped or not.
func familyTasks(t *testing.T, c *ecs.Client, family string) []types.Task {
	t.Helper()
	var all []types.Task
	for _, st := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		in := &ecs.ListTasksInput{DesiredStatus: st}
		if family != "" {
			in.Family = aws.String(family)
		}
		var list *ecs.ListTasksOutput
		if err := retry(func() (err error) { list, err = c.ListTasks(context.Background(), in); return err }); err != nil || len(list.TaskArns) == 0 {
			continue
		}
		var out *ecs.DescribeTasksOutput
		if err := retry(func() (err error) {
			out, err = c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: list.TaskArns})
			return err
		}); err == nil {
			all = append(all, out.Tasks...)
		}
	}
	return all
}

func describeAll(tasks []types.Task) string {
	var b strings.Builder
	for _, tk := range tasks {
		b.WriteString("\n  " + describe(tk))
	}
	return fmt.Sprintf("%d task(s)%s", len(tasks), b.String())
}
