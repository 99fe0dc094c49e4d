package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// simulateFleet runs `berth simulate` against the server and returns once
// it says its instances are registered and connected; it is killed when the
// test ends.
func simulateFleet(t *testing.T, s *server, args ...string) {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"simulate", "--server", s.endpoint}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + auth.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + auth.DefaultSecretAccessKey}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "registered and connected") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("berth simulate %v exited: %s", args, stderr.String())
		}
		t.Log(line)
	case <-time.After(2 * time.Minute):
		t.Fatalf("berth simulate %v did not come up: %s", args, stderr.String())
	}
}

// runTasks runs a task with the AWS CLI and returns the instance of each
// placed task and the reasons of the failures.
func runTasks(t *testing.T, s *server, cluster, family string, count int, extra ...string) (instances, reasons []string) {
	t.Helper()
	out := s.aws(t, append([]string{"run-task", "--cluster", cluster, "--task-definition", family, "--count", fmt.Sprint(count)}, extra...)...)
	tasks, _ := out["tasks"].([]any)
	for _, tk := range tasks {
		instances = append(instances, tk.(map[string]any)["containerInstanceArn"].(string))
	}
	failures, _ := out["failures"].([]any)
	for _, f := range failures {
		reasons = append(reasons, f.(map[string]any)["reason"].(string))
	}
	return instances, reasons
}

// instanceView is what the placement tests read of a container instance.
type instanceView struct {
	zone      string
	memory    float64 // remaining MEMORY
	attribute map[string]string
}

// instancesOf describes a cluster's container instances, by ARN.
func instancesOf(t *testing.T, s *server, cluster string) map[string]instanceView {
	t.Helper()
	arns := s.aws(t, "list-container-instances", "--cluster", cluster)["containerInstanceArns"].([]any)
	args := []string{"describe-container-instances", "--cluster", cluster, "--container-instances"}
	for _, a := range arns {
		args = append(args, a.(string))
	}
	out := map[string]instanceView{}
	for _, ci := range s.aws(t, args...)["containerInstances"].([]any) {
		m := ci.(map[string]any)
		e := out[m["containerInstanceArn"].(string)]
		e.attribute = map[string]string{}
		for _, a := range m["attributes"].([]any) {
			am := a.(map[string]any)
			v, _ := am["value"].(string)
			e.attribute[am["name"].(string)] = v
		}
		e.zone = e.attribute["ecs.availability-zone"]
		for _, r := range m["remainingResources"].([]any) {
			if rm := r.(map[string]any); rm["name"] == "MEMORY" {
				e.memory = rm["integerValue"].(float64)
			}
		}
		out[m["containerInstanceArn"].(string)] = e
	}
	return out
}

func countEach(list []string) map[string]int {
	n := map[string]int{}
	for _, s := range list {
		n[s]++
	}
	return n
}

func registerCLI(t *testing.T, s *server, family string, memory, hostPort int) {
	t.Helper()
	pm := ""
	if hostPort > 0 {
		pm = fmt.Sprintf(`,"portMappings":[{"containerPort":80,"hostPort":%d}]`, hostPort)
	}
	s.aws(t, "register-task-definition", "--family", family, "--container-definitions",
		fmt.Sprintf(`[{"name":"app","image":"busybox:latest","memory":%d%s}]`, memory, pm))
}

// TestPlacementThroughTheCLI places tasks on simulated fleets (real agent
// protocol, no containers) with the AWS CLI, as an ECS user would.
func TestPlacementThroughTheCLI(t *testing.T) {
	awsCLI = berthtest.NeedTool(t, "/usr/bin/aws", "aws")
	s := &server{t: t, bin: buildBerth(t), dataDir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	for _, c := range []string{"pack", "spread", "member", "crowd"} {
		s.aws(t, "create-cluster", "--cluster-name", c)
	}
	registerCLI(t, s, "m300", 300, 0)
	registerCLI(t, s, "small", 64, 0)
	registerCLI(t, s, "static", 64, 8080)
	simulateFleet(t, s, "--cluster", "pack", "--instances", "3", "--memory", "1024")
	simulateFleet(t, s, "--cluster", "spread", "--instances", "6", "--memory", "4096", "--zones", "us-east-1a,us-east-1b,us-east-1c")
	simulateFleet(t, s, "--cluster", "member", "--instances", "2", "--memory", "4096", "--attributes", "stack=blue")
	simulateFleet(t, s, "--cluster", "member", "--instances", "2", "--memory", "4096", "--attributes", "stack=green")
	simulateFleet(t, s, "--cluster", "crowd", "--instances", "4", "--memory", "1024", "--parallel", "4")

	t.Run("binpack on memory fills one instance before the next", func(t *testing.T) {
		used := map[string]bool{}
		for call := range 3 {
			placed, failed := runTasks(t, s, "pack", "m300", 3, "--placement-strategy", "type=binpack,field=memory")
			if len(placed) != 3 || len(failed) != 0 {
				t.Fatalf("call %d: placed %v failed %v", call, placed, failed)
			}
			if n := countEach(placed); len(n) != 1 {
				t.Fatalf("call %d spread its tasks over %v; binpack fills the fullest instance first", call, n)
			}
			if used[placed[0]] {
				t.Fatalf("call %d went back to an instance that had no room for it", call)
			}
			used[placed[0]] = true
		}
		for arn, in := range instancesOf(t, s, "pack") {
			if in.memory != 1024-900 {
				t.Fatalf("%s has %v MiB left, want 124", arn, in.memory)
			}
		}
	})

	t.Run("a task no instance has memory for fails with RESOURCE:MEMORY on each", func(t *testing.T) {
		placed, failed := runTasks(t, s, "pack", "m300", 1)
		if len(placed) != 0 || len(failed) != 3 || countEach(failed)["RESOURCE:MEMORY"] != 3 {
			t.Fatalf("placed %v failed %v", placed, failed)
		}
	})

	t.Run("spread over availability zones balances them", func(t *testing.T) {
		placed, failed := runTasks(t, s, "spread", "small", 9, "--placement-strategy", "type=spread,field=attribute:ecs.availability-zone")
		if len(placed) != 9 || len(failed) != 0 {
			t.Fatalf("placed %v failed %v", placed, failed)
		}
		fleet := instancesOf(t, s, "spread")
		perZone := map[string]int{}
		for _, arn := range placed {
			perZone[fleet[arn].zone]++
		}
		if len(perZone) != 3 || perZone["us-east-1a"] != 3 || perZone["us-east-1b"] != 3 || perZone["us-east-1c"] != 3 {
			t.Fatalf("tasks per zone %v", perZone)
		}
	})

	t.Run("distinctInstance puts each task of a group on its own instance", func(t *testing.T) {
		placed, failed := runTasks(t, s, "spread", "small", 7, "--group", "distinct", "--placement-constraints", "type=distinctInstance")
		if len(placed) != 6 || len(countEach(placed)) != 6 {
			t.Fatalf("placed %v", countEach(placed))
		}
		if len(failed) == 0 {
			t.Fatalf("the seventh task was not a failure")
		}
		placed, _ = runTasks(t, s, "spread", "small", 1, "--group", "distinct", "--placement-constraints", "type=distinctInstance")
		if len(placed) != 0 {
			t.Fatalf("a task joined a group already on every instance")
		}
	})

	t.Run("memberOf keeps tasks on the instances its expression matches", func(t *testing.T) {
		placed, failed := runTasks(t, s, "member", "small", 6, "--placement-constraints", "type=memberOf,expression=attribute:stack == green")
		if len(placed) != 6 || len(failed) != 0 {
			t.Fatalf("placed %v failed %v", placed, failed)
		}
		fleet := instancesOf(t, s, "member")
		for _, arn := range placed {
			if fleet[arn].attribute["stack"] != "green" {
				t.Fatalf("a task went to a %q instance", fleet[arn].attribute["stack"])
			}
		}
		_, failed = runTasks(t, s, "member", "small", 1, "--placement-constraints", "type=memberOf,expression=attribute:stack == red")
		if len(failed) != 4 || countEach(failed)["MemberOf placement constraint unsatisfied."] != 4 {
			t.Fatalf("failures %v", failed)
		}
		raw, err := s.awsRaw("run-task", "--cluster", "member", "--task-definition", "small",
			"--placement-constraints", "type=memberOf,expression=attribute:stack ==")
		if err == nil || !strings.Contains(string(raw), "InvalidParameterException") {
			t.Fatalf("a broken expression was not refused: %s", raw)
		}
	})

	t.Run("a static host port is one task per instance: RESOURCE:PORTS", func(t *testing.T) {
		placed, failed := runTasks(t, s, "member", "static", 5)
		if len(placed) != 4 || len(countEach(placed)) != 4 || len(failed) != 4 || countEach(failed)["RESOURCE:PORTS"] != 4 {
			t.Fatalf("placed %v failed %v", countEach(placed), failed)
		}
	})

	t.Run("a DRAINING instance gets nothing", func(t *testing.T) {
		fleet := instancesOf(t, s, "member")
		var drained string
		for arn := range fleet {
			drained = arn
			break
		}
		s.aws(t, "update-container-instances-state", "--cluster", "member", "--container-instances", drained, "--status", "DRAINING")
		for range 3 {
			placed, _ := runTasks(t, s, "member", "small", 10)
			if len(placed) != 10 {
				t.Fatalf("placed %d of 10 on three ACTIVE instances", len(placed))
			}
			for _, arn := range placed {
				if arn == drained {
					t.Fatal("a task was placed on a DRAINING instance")
				}
			}
		}
	})

	t.Run("concurrent CLI callers never overcommit an instance", func(t *testing.T) {
		// Four instances of 1024 MiB hold three 300 MiB tasks each: twelve in
		// all. Twelve callers ask for two each, at once.
		var mu sync.Mutex
		var placedAll []string
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				placed, _ := runTasks(t, s, "crowd", "m300", 2)
				mu.Lock()
				placedAll = append(placedAll, placed...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(placedAll) != 12 {
			t.Fatalf("%d tasks placed; the fleet has room for exactly 12", len(placedAll))
		}
		per := countEach(placedAll)
		for arn, in := range instancesOf(t, s, "crowd") {
			if per[arn] != 3 || in.memory != 1024-900 {
				t.Fatalf("%s: %d tasks, %v MiB left", arn, per[arn], in.memory)
			}
		}
	})
}
