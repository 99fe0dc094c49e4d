package ssm_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// cli runs Debian's AWS CLI against the server, in an empty home, with the
// development key pair; it returns the output and whether the CLI succeeded.
func cli(t *testing.T, awsCLI, endpoint string, args ...string) (string, bool) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(c, awsCLI, append([]string{"--endpoint-url", endpoint, "--output", "json", "ssm"}, args...)...)
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + auth.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + auth.DefaultSecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
	}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestParametersThroughTheAWSCLI(t *testing.T) {
	awsCLI := berthtest.NeedTool(t, "/usr/bin/aws", "aws")
	srv := berthtest.Start(t)
	run := func(t *testing.T, args ...string) map[string]any {
		t.Helper()
		out, ok := cli(t, awsCLI, srv.Endpoint(), args...)
		if !ok {
			t.Fatalf("aws ssm %v: %s", args, out)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("aws ssm %v: %v\n%s", args, err, out)
		}
		return v
	}

	t.Run("put-parameter and get-parameter --with-decryption", func(t *testing.T) {
		if v := run(t, "put-parameter", "--name", "/cli/token", "--value", "s3cr3t", "--type", "SecureString"); v["Version"] != float64(1) {
			t.Fatalf("put: %v", v)
		}
		p := run(t, "get-parameter", "--name", "/cli/token", "--with-decryption")["Parameter"].(map[string]any)
		if p["Value"] != "s3cr3t" || p["ARN"] != "arn:aws:ssm:us-east-1:"+auth.DefaultAccountID+":parameter/cli/token" {
			t.Fatalf("get: %v", p)
		}
	})

	t.Run("a second put without --overwrite is ParameterAlreadyExists; with it, version 2", func(t *testing.T) {
		out, ok := cli(t, awsCLI, srv.Endpoint(), "put-parameter", "--name", "/cli/token", "--value", "x", "--type", "SecureString")
		if ok || !strings.Contains(out, "(ParameterAlreadyExists)") {
			t.Fatalf("second put: %s", out)
		}
		if v := run(t, "put-parameter", "--name", "/cli/token", "--value", "x", "--overwrite"); v["Version"] != float64(2) {
			t.Fatalf("overwrite: %v", v)
		}
		h := run(t, "get-parameter-history", "--name", "/cli/token")["Parameters"].([]any)
		if len(h) != 2 {
			t.Fatalf("history: %v", h)
		}
	})

	t.Run("get-parameters-by-path pages through the CLI's paginator", func(t *testing.T) {
		for _, n := range []string{"a", "b", "c"} {
			run(t, "put-parameter", "--name", "/cli/list/"+n, "--value", n, "--type", "String")
		}
		ps := run(t, "get-parameters-by-path", "--path", "/cli", "--recursive", "--page-size", "2")["Parameters"].([]any)
		if len(ps) != 4 {
			t.Fatalf("by path: %v", ps)
		}
	})

	t.Run("an empty answer is an empty list, as SSM sends it", func(t *testing.T) {
		out, ok := cli(t, awsCLI, srv.Endpoint(), "get-parameters-by-path", "--path", "/nothing/here")
		if !ok || !strings.Contains(strings.Join(strings.Fields(out), ""), `"Parameters":[]`) {
			t.Fatalf("empty by path: %s", out)
		}
	})

	t.Run("delete-parameter, then get-parameter is ParameterNotFound", func(t *testing.T) {
		if out, ok := cli(t, awsCLI, srv.Endpoint(), "delete-parameter", "--name", "/cli/token"); !ok {
			t.Fatalf("delete: %s", out)
		}
		out, ok := cli(t, awsCLI, srv.Endpoint(), "get-parameter", "--name", "/cli/token")
		if ok || !strings.Contains(out, "(ParameterNotFound)") {
			t.Fatalf("get after delete: %s", out)
		}
	})
}
