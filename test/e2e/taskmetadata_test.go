package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

// Tasks on `berth dev` read their task metadata as on ECS: an EC2 (bridge)
// task's and a Fargate (awsvpc) task's container each print the document
// at $ECS_CONTAINER_METADATA_URI_V4/task, which names their own task; after
// a kill -9 of berth dev the URIs they hold answer again.
func TestTasksReadTheirMetadataOnDev(t *testing.T) {
	docker := dockerForTasks(t)
	dev, endpoint, c := startDev(t)
	ctx := context.Background()
	printer := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String(berthtest.BusyboxImage), Essential: aws.Bool(true), StopTimeout: aws.Int32(1),
		Command: []string{"/bin/sh", "-c", `/bin/busybox wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"; echo; echo "env $AWS_REGION $AWS_EXECUTION_ENV"; exec /bin/busybox sleep 3600`}}
	register(t, c, "meta-ec2", func() types.ContainerDefinition { p := printer; p.Memory = aws.Int32(64); return p }())
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("meta-fargate"), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{printer}}); err != nil {
		t.Fatal(err)
	}
	run := func(in *ecs.RunTaskInput) string {
		out, err := c.RunTask(ctx, in)
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("run-task %s: %v %+v", aws.ToString(in.TaskDefinition), err, out)
		}
		return aws.ToString(out.Tasks[0].TaskArn)
	}
	ec2 := run(&ecs.RunTaskInput{TaskDefinition: aws.String("meta-ec2")})
	fargate := run(&ecs.RunTaskInput{TaskDefinition: aws.String("meta-fargate"), LaunchType: types.LaunchTypeFargate,
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-0e1d2c3b"}}}})

	uris := map[string]string{}
	for arn, want := range map[string]string{ec2: "env us-east-1 AWS_ECS_EC2", fargate: "env us-east-1 AWS_ECS_FARGATE"} {
		task := waitTask(t, c, arn, "RUNNING", status("RUNNING"))
		id := aws.ToString(containerOf(task, "app").RuntimeId)
		var logs string
		for deadline := time.Now().Add(time.Minute); !strings.Contains(logs, "env "); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("task %s's container printed %q", arn, logs)
			}
			logs = containerLogs(t, docker, id)
		}
		if !strings.Contains(logs, `"TaskARN":"`+arn+`"`) || !strings.Contains(logs, `"DockerId":"`+id+`"`) || !strings.Contains(logs, want) {
			t.Fatalf("task %s's container printed %q; want its task's document and %q", arn, logs, want)
		}
		inspect, err := docker.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range inspect.Config.Env {
			if v, ok := strings.CutPrefix(kv, "ECS_CONTAINER_METADATA_URI_V4="); ok {
				uris[arn] = v
			}
		}
	}
	// get waits for the endpoint to listen: after a restart the agent
	// opens it once it has registered again.
	get := func(url string) (int, string) {
		hc := http.Client{Timeout: 10 * time.Second}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			resp, err := hc.Get(url)
			if err != nil && time.Now().Before(deadline) {
				continue
			}
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
	}
	if code, _ := get(uris[ec2][:len(uris[ec2])-40] + strings.Repeat("f", 40) + "/task"); code != http.StatusNotFound {
		t.Errorf("a wrong id answers %d; want 404", code)
	}

	dev.kill9()
	dev.start()
	waitHealthy(t, endpoint, dev)
	for arn, uri := range uris {
		var doc struct{ TaskARN string }
		code, body := get(uri + "/task")
		if err := json.Unmarshal([]byte(body), &doc); code != http.StatusOK || err != nil || doc.TaskARN != arn {
			t.Errorf("after the restart %s/task answers %d %s; want task %s", uri, code, body, arn)
		}
	}
}
