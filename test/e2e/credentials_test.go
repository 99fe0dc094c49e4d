package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// lockedBuffer is a child's output, read while the child writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWithEnv runs a berth command with PATH, a fresh HOME and env; it is
// killed when the test ends, and its output shown if the test failed.
func startWithEnv(t *testing.T, env []string, args ...string) *lockedBuffer {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s's output:\n%s", strings.Join(args[:2], " "), logs.String())
		}
	})
	return logs
}

func clientFor(endpoint, keyID, secret string) *ecs.Client {
	return ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Retryer: berthtest.ClosedConnRetryer(),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
}

// waitInstances polls until the client's account has want container
// instances in cluster (a wait for an event; the deadline bounds a hang).
func waitInstances(t *testing.T, c *ecs.Client, cluster string, want int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err == nil && len(out.ContainerInstanceArns) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d container instances wanted in %s; last answer %+v, %v", want, cluster, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// berth dev with the user's own key pair starts, signs its own calls (the
// default cluster, its agent) with it, says it, and does not print the
// secret; the development key is no longer accepted.
func TestDevRunsWithTheUsersOwnKeys(t *testing.T) {
	berthtest.DockerClient(t) // the dev agent registers this machine's Engine
	addr := freePort(t)
	endpoint := "http://" + addr
	logs := startWithEnv(t, []string{"BERTH_ACCESS_KEY_ID=AKIAMYKEY00000000001", "BERTH_SECRET_ACCESS_KEY=mysecret", "BERTH_ACCOUNT_ID=111122223333"},
		buildBerth(t), "dev", "--listen", addr, "--data-dir", t.TempDir())
	own := clientFor(endpoint, "AKIAMYKEY00000000001", "mysecret")
	waitInstances(t, own, "default", 1)
	_, err := clientFor(endpoint, auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey).ListClusters(context.Background(), &ecs.ListClustersInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("the development key with other keys configured: %v, want UnrecognizedClientException", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "export AWS_ACCESS_KEY_ID=AKIAMYKEY00000000001") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if out := logs.String(); !strings.Contains(out, "export AWS_ACCESS_KEY_ID=AKIAMYKEY00000000001") || strings.Contains(out, "mysecret") {
		t.Fatalf("berth dev's how-to should name the key and not print its secret:\n%s", out)
	}
}

// berth simulate signs with a profile of the AWS shared credentials file,
// so its instances land in the account that profile's key maps to.
func TestSimulateSignsWithAProfile(t *testing.T) {
	dir := t.TempDir()
	serverCreds := filepath.Join(dir, "keys")
	if err := os.WriteFile(serverCreds, []byte("[alice]\naws_access_key_id = AKIAALICE00000000001\naws_secret_access_key = alice-secret\naccount_id = 111122223333\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCreds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(clientCreds, []byte("[alice]\naws_access_key_id = AKIAALICE00000000001\naws_secret_access_key = alice-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBerth(t)
	addr := freePort(t)
	endpoint := "http://" + addr
	startWithEnv(t, nil, bin, "server", "--listen", addr, "--data-dir", t.TempDir(), "--credentials-file", serverCreds)
	alice := clientFor(endpoint, "AKIAALICE00000000001", "alice-secret")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := alice.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("fleet")}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("CreateCluster as alice: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	startWithEnv(t, []string{"AWS_SHARED_CREDENTIALS_FILE=" + clientCreds}, bin, "simulate", "--server", endpoint, "--cluster", "fleet", "--instances", "2", "--profile", "alice")
	waitInstances(t, alice, "fleet", 2)
	dev := clientFor(endpoint, auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey)
	if _, err := dev.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String("fleet")}); err == nil {
		t.Fatal("the development account sees alice's cluster")
	}
}
