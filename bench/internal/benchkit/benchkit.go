// Package benchkit holds what the benchmarks that run Berth on the local
// Docker Engine share: the image they run, and a `berth dev` to run it.
package benchkit

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/berth-project/berth/api/auth"
)

// Image is FROM scratch with Debian's static busybox at /bin/busybox and
// /bin/sh (there is no registry to pull from).
const Image = "berth-bench/busybox:latest"

// BuildImage builds Image on the Engine.
func BuildImage(ctx context.Context, cli *client.Client) {
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		log.Fatal("needs Debian's busybox-static at /bin/busybox: ", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string][]byte{"Dockerfile": []byte("FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\n"), "busybox": data} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{Image}, Remove: true})
	Must(err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// StartDev runs `berth dev` on a free loopback port with a fresh data
// directory; it returns the endpoint and how to stop it.
func StartDev(bin string) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(err)
	addr := l.Addr().String()
	l.Close()
	dir, err := os.MkdirTemp("", "berth-bench-")
	Must(err)
	// Throttling off: the benches measure Berth, not ECS's rate limits.
	cmd := exec.Command(bin, "dev", "--listen", addr, "--data-dir", dir, "--throttle", "off")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	Must(cmd.Start())
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "http://" + addr, func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
			}
		}
	}
	log.Fatal("berth dev did not start")
	return "", nil
}

// Client is an ECS client for endpoint with the development key pair.
func Client(endpoint string) *ecs.Client {
	return ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, "")})
}

// WaitAgent waits until the agent of `berth dev` is connected.
func WaitAgent(ctx context.Context, c *ecs.Client) {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err != nil || len(l.ContainerInstanceArns) == 0 {
			continue
		}
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: l.ContainerInstanceArns})
		if err == nil && d.ContainerInstances[0].AgentConnected {
			return
		}
	}
	log.Fatal("the agent of berth dev never connected")
}

// EngineVersion describes the Engine for the report.
func EngineVersion(ctx context.Context, cli *client.Client) string {
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return "?"
	}
	return v.Version + " (API " + v.APIVersion + ")"
}

// Must stops the benchmark on an error.
func Must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
