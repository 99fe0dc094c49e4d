package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/berthtest"
)

// A blue/green switch as an external deployment tool makes it, through the
// AWS CLI against `berth dev` on the local Docker Engine: blue runs, green
// starts beside it, green becomes primary, blue is scaled to 0 and deleted.
func TestTaskSetsThroughTheCLIOnDocker(t *testing.T) {
	awsCLI = berthtest.NeedTool(t, "/usr/bin/aws", "aws")
	docker := dockerForTasks(t)
	_, endpoint, c := startDev(t)
	waitInstance(t, c)
	cli := &server{t: t, endpoint: endpoint}
	// The task set operations require --cluster, as the ECS model does.

	for _, color := range []string{"blue", "green"} {
		register(t, c, color, trapTerm("app"))
	}
	cli.aws(t, "create-service", "--service-name", "web", "--desired-count", "2", "--deployment-controller", "type=EXTERNAL")
	createSet := func(family string, percent string) string {
		out := cli.aws(t, "create-task-set", "--cluster", "default", "--service", "web", "--task-definition", family, "--external-id", family,
			"--scale", "value="+percent+",unit=PERCENT")
		ts := out["taskSet"].(map[string]any)
		if ts["status"] != "ACTIVE" || !strings.HasPrefix(ts["id"].(string), "ecs-svc/") {
			t.Fatalf("create-task-set %s: %v", family, ts)
		}
		return ts["id"].(string)
	}
	// waitSets waits until each task set runs its count of containers and
	// Docker runs exactly their sum.
	waitSets := func(want map[string]float64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out := cli.aws(t, "describe-task-sets", "--cluster", "default", "--service", "web")
			ok := true
			total := 0.0
			for _, ts := range out["taskSets"].([]any) {
				m := ts.(map[string]any)
				n, listed := want[m["id"].(string)]
				if !listed || m["runningCount"] != n || m["computedDesiredCount"] != n || m["stabilityStatus"] != "STEADY_STATE" {
					ok = false
				}
				total += n
			}
			if ok && len(out["taskSets"].([]any)) == len(want) && len(runningContainers(t, docker, c)) == int(total) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("task sets never reached %v: %v; %d containers running", want, out["taskSets"], len(runningContainers(t, docker, c)))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	blue := createSet("blue", "100")
	cli.aws(t, "update-service-primary-task-set", "--cluster", "default", "--service", "web", "--primary-task-set", blue)
	waitSets(map[string]float64{blue: 2})

	green := createSet("green", "50")
	waitSets(map[string]float64{blue: 2, green: 1})
	cli.aws(t, "update-service-primary-task-set", "--cluster", "default", "--service", "web", "--primary-task-set", green)
	svc := cli.aws(t, "describe-services", "--services", "web")["services"].([]any)[0].(map[string]any)
	if !strings.HasSuffix(svc["taskDefinition"].(string), "task-definition/green:1") {
		t.Fatalf("the service after the switch runs %v", svc["taskDefinition"])
	}
	cli.aws(t, "update-task-set", "--cluster", "default", "--service", "web", "--task-set", green, "--scale", "value=100,unit=PERCENT")
	cli.aws(t, "update-task-set", "--cluster", "default", "--service", "web", "--task-set", blue, "--scale", "value=0,unit=PERCENT")
	waitSets(map[string]float64{blue: 0, green: 2})

	// Deleting green, still at 100%, needs force.
	if out, err := cli.awsRaw("delete-task-set", "--cluster", "default", "--service", "web", "--task-set", green); err == nil || !strings.Contains(string(out), "InvalidParameterException") {
		t.Fatalf("delete-task-set of a task set scaled above 0 without force: %v\n%s", err, out)
	}
	cli.aws(t, "delete-task-set", "--cluster", "default", "--service", "web", "--task-set", blue)
	waitSets(map[string]float64{green: 2})
	for _, ctr := range runningContainers(t, docker, c) {
		if !strings.Contains(ctr.Labels["com.amazonaws.ecs.task-definition-family"], "green") {
			t.Fatalf("a container of %s is still running", ctr.Labels["com.amazonaws.ecs.task-definition-family"])
		}
	}
}
