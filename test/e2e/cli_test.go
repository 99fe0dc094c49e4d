// Package e2e drives a real `berth server` process with the AWS CLI, the way
// a user would: a realistic session, a kill -9 in the middle, and a restart.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// server is a `berth server` child process.
type server struct {
	t        *testing.T
	bin      string
	dataDir  string
	endpoint string
	cmd      *exec.Cmd
	logs     bytes.Buffer
}

func buildBerth(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "berth")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/berth")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *server) start() {
	s.t.Helper()
	addr := freePort(s.t)
	s.endpoint = "http://" + addr
	s.logs.Reset()
	s.cmd = exec.Command(s.bin, "server", "--listen", addr, "--data-dir", s.dataDir)
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dataDir}
	s.cmd.Stdout = &s.logs
	s.cmd.Stderr = &s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("berth server did not become healthy; its output:\n%s", s.logs.String())
}

// kill sends SIGKILL: no clean shutdown, no flush, as in a crash.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// aws runs the AWS CLI against the server and decodes its JSON output.
func (s *server) aws(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := s.awsRaw(args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var v map[string]any
	if len(bytes.TrimSpace(out)) == 0 {
		return v
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

func (s *server) awsRaw(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--endpoint-url", s.endpoint, "--output", "json", "ecs"}, args...)
	cmd := exec.CommandContext(ctx, awsCLI, full...)
	home := s.t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + auth.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + auth.DefaultSecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	}
	return cmd.CombinedOutput()
}

var awsCLI string

func TestAWSCLISession(t *testing.T) {
	// Debian's AWS CLI v2 lives at /usr/bin/aws; prefer it over any other on PATH.
	awsCLI = berthtest.NeedTool(t, "/usr/bin/aws", "aws")
	s := &server{t: t, bin: buildBerth(t), dataDir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)

	const account = auth.DefaultAccountID
	clusterARN := "arn:aws:ecs:us-east-1:" + account + ":cluster/payments"

	t.Run("create-cluster answers the new ACTIVE cluster", func(t *testing.T) {
		out := s.aws(t, "create-cluster", "--cluster-name", "payments", "--tags", "key=env,value=staging")
		c := out["cluster"].(map[string]any)
		if c["clusterArn"] != clusterARN || c["status"] != "ACTIVE" {
			t.Fatalf("cluster: %v", c)
		}
	})

	var taskDefARN string
	t.Run("register-task-definition reads a JSON file with --cli-input-json", func(t *testing.T) {
		out := s.aws(t, "register-task-definition", "--cli-input-json", "file://testdata/webapp-taskdef.json")
		td := out["taskDefinition"].(map[string]any)
		taskDefARN, _ = td["taskDefinitionArn"].(string)
		if taskDefARN != "arn:aws:ecs:us-east-1:"+account+":task-definition/webapp:1" {
			t.Fatalf("taskDefinitionArn %q", taskDefARN)
		}
		if td["status"] != "ACTIVE" || len(td["containerDefinitions"].([]any)) != 2 {
			t.Fatalf("task definition: %v", td)
		}
		// A second registration of the family is revision 2.
		out = s.aws(t, "register-task-definition", "--cli-input-json", "file://testdata/webapp-taskdef.json")
		if rev := out["taskDefinition"].(map[string]any)["revision"]; rev != float64(2) {
			t.Fatalf("second revision %v", rev)
		}
	})

	t.Run("list and describe find what was created", func(t *testing.T) {
		arns := s.aws(t, "list-clusters")["clusterArns"].([]any)
		if !contains(arns, clusterARN) {
			t.Fatalf("list-clusters: %v", arns)
		}
		tds := s.aws(t, "list-task-definitions", "--family-prefix", "webapp")["taskDefinitionArns"].([]any)
		if len(tds) != 2 {
			t.Fatalf("list-task-definitions: %v", tds)
		}
		d := s.aws(t, "describe-task-definition", "--task-definition", "webapp", "--include", "TAGS")
		if d["taskDefinition"].(map[string]any)["revision"] != float64(2) {
			t.Fatalf("describe latest: %v", d)
		}
		if !hasTag(d["tags"], "team", "payments") {
			t.Fatalf("tags of the task definition: %v", d["tags"])
		}
	})

	t.Run("tag-resource and untag-resource change list-tags-for-resource", func(t *testing.T) {
		s.aws(t, "tag-resource", "--resource-arn", clusterARN, "--tags", "key=owner,value=alice")
		s.aws(t, "untag-resource", "--resource-arn", clusterARN, "--tag-keys", "env")
		tags := s.aws(t, "list-tags-for-resource", "--resource-arn", clusterARN)["tags"]
		if !hasTag(tags, "owner", "alice") || hasTag(tags, "env", "staging") {
			t.Fatalf("tags: %v", tags)
		}
	})

	t.Run("deregister-task-definition makes revision 1 INACTIVE", func(t *testing.T) {
		out := s.aws(t, "deregister-task-definition", "--task-definition", "webapp:1")
		if st := out["taskDefinition"].(map[string]any)["status"]; st != "INACTIVE" {
			t.Fatalf("status %v", st)
		}
	})

	t.Run("bad input gets ECS's exception from the CLI", func(t *testing.T) {
		out, err := s.awsRaw("describe-task-definition", "--task-definition", "nosuchfamily")
		if err == nil || !strings.Contains(string(out), "ClientException") {
			t.Fatalf("want ClientException, got %v:\n%s", err, out)
		}
	})

	s.kill()
	s.start()

	t.Run("after kill -9 and a restart everything is found again", func(t *testing.T) {
		d := s.aws(t, "describe-clusters", "--clusters", "payments", "--include", "TAGS")
		cs := d["clusters"].([]any)
		if len(cs) != 1 || cs[0].(map[string]any)["status"] != "ACTIVE" {
			t.Fatalf("describe-clusters: %v", d)
		}
		if !hasTag(cs[0].(map[string]any)["tags"], "owner", "alice") {
			t.Fatalf("tags lost: %v", cs[0])
		}
		active := s.aws(t, "list-task-definitions", "--family-prefix", "webapp")["taskDefinitionArns"].([]any)
		inactive := s.aws(t, "list-task-definitions", "--family-prefix", "webapp", "--status", "INACTIVE")["taskDefinitionArns"].([]any)
		if len(active) != 1 || len(inactive) != 1 || !contains(inactive, strings.TrimSuffix(taskDefARN, "1")+"1") {
			t.Fatalf("active %v inactive %v", active, inactive)
		}
		out := s.aws(t, "register-task-definition", "--cli-input-json", "file://testdata/webapp-taskdef.json")
		if rev := out["taskDefinition"].(map[string]any)["revision"]; rev != float64(3) {
			t.Fatalf("revision after restart %v, want 3", rev)
		}
	})
}

func contains(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasTag(tags any, key, value string) bool {
	list, _ := tags.([]any)
	for _, t := range list {
		m := t.(map[string]any)
		if m["key"] == key && m["value"] == value {
			return true
		}
	}
	return false
}
