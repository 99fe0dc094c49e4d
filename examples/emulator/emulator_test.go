// Package emulator shows Berth's emulator mode from Go tests, as a user's
// test of their ECS-driving code would use it: start `berth server
// --emulate` once, point the AWS SDK for Go v2 at it, and reset it between
// tests. No Docker is involved. docs/emulator.md walks through it.
package emulator

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The development key pair `berth server` accepts when given no other.
const (
	keyID  = "AKIABERTHDEVLOCAL000"
	secret = "berth-dev-secret-access-key-do-not-use"
)

// startBerth builds berth and runs `berth server` with args on a free
// loopback port, and answers its endpoint; it is stopped when the test ends.
func startBerth(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "berth")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/berth").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, append([]string{"server", "--listen", addr}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	endpoint := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(endpoint + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return endpoint
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("berth server --emulate did not become ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func client(endpoint string) *ecs.Client {
	return ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
}

// reset clears every account's state: each test starts from nothing.
func reset(t *testing.T, endpoint string) {
	t.Helper()
	resp, err := http.Post(endpoint+"/_berth/reset", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reset: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestEmulator(t *testing.T) {
	endpoint := startBerth(t, "--emulate")
	c := client(endpoint)
	ctx := context.Background()

	t.Run("a task on an instance registered without an agent runs and stops", func(t *testing.T) {
		reset(t, endpoint)
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ci")}); err != nil {
			t.Fatal(err)
		}
		// As a deploy script's test registers an instance: an unsigned
		// identity document, no agent, no resources (the emulator gives
		// 4096 CPU units and 8192 MiB).
		doc := `{"instanceId":"i-0123456789abcdef0","instanceType":"m5.large","availabilityZone":"us-east-1b","imageId":"ami-0abc","region":"us-east-1","accountId":"123456789012"}`
		reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci"), InstanceIdentityDocument: aws.String(doc)})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(reg.ContainerInstance.Ec2InstanceId); got != "i-0123456789abcdef0" {
			t.Fatalf("ec2InstanceId %q", got)
		}
		if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("job"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("my/app:1"), Memory: aws.Int32(256)}}}); err != nil {
			t.Fatal(err)
		}
		run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ci"), TaskDefinition: aws.String("job")})
		if err != nil || len(run.Tasks) != 1 {
			t.Fatalf("RunTask: %v %s", err, failures(run))
		}
		arn := run.Tasks[0].TaskArn
		tasks := &ecs.DescribeTasksInput{Cluster: aws.String("ci"), Tasks: []string{aws.ToString(arn)}}
		if err := ecs.NewTasksRunningWaiter(c, fast).Wait(ctx, tasks, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: arn}); err != nil {
			t.Fatal(err)
		}
		if err := ecs.NewTasksStoppedWaiter(c, func(o *ecs.TasksStoppedWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).Wait(ctx, tasks, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a service becomes stable", func(t *testing.T) {
		reset(t, endpoint)
		c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ci")})
		c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci")})
		c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("my/web:1"), Memory: aws.Int32(512)}}})
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("ci"), ServiceName: aws.String("web"),
			TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(3)}); err != nil {
			t.Fatal(err)
		}
		w := ecs.NewServicesStableWaiter(c, func(o *ecs.ServicesStableWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
		if err := w.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("ci"), Services: []string{"web"}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a reset leaves nothing", func(t *testing.T) {
		reset(t, endpoint)
		out, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
		if err != nil || len(out.ClusterArns) != 0 {
			t.Fatalf("after a reset: %+v %v", out, err)
		}
	})
}

func fast(o *ecs.TasksRunningWaiterOptions) { o.MinDelay = 50 * time.Millisecond }

// Outside emulator mode the reset is refused and deletes nothing.
func TestResetIsRefusedOutsideTheEmulator(t *testing.T) {
	endpoint := startBerth(t, "--data-dir", t.TempDir())
	c := client(endpoint)
	if _, err := c.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("keep")}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(endpoint+"/_berth/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("reset outside the emulator answered %d, want 403", resp.StatusCode)
	}
	out, err := c.ListClusters(context.Background(), &ecs.ListClustersInput{})
	if err != nil || len(out.ClusterArns) != 1 {
		t.Fatalf("the refused reset deleted something: %+v %v", out, err)
	}
}

// failures spells out RunTask's failures, which %+v would print as pointers.
func failures(run *ecs.RunTaskOutput) string {
	if run == nil {
		return ""
	}
	var out []string
	for _, f := range run.Failures {
		out = append(out, aws.ToString(f.Arn)+": "+aws.ToString(f.Reason)+" "+aws.ToString(f.Detail))
	}
	return strings.Join(out, "; ")
}
