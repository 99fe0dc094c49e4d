package berthtest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// BusyboxImage is the image task tests run: FROM scratch with Debian's
// static busybox as /bin/busybox and /bin/sh (there is no registry to pull
// from). It is built once per process through the Docker API.
const BusyboxImage = "berth-test/busybox:latest"

// BuildBusyboxImage builds BusyboxImage on the local Docker Engine. Without
// busybox-static it skips, or fails under CI=true.
func BuildBusyboxImage(t testing.TB) {
	t.Helper()
	bin := NeedTool(t, "/bin/busybox", "busybox")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	add := func(name string, body []byte, mode int64) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body))})
		tw.Write(body)
	}
	add("Dockerfile", []byte("FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nCMD [\"/bin/busybox\", \"sleep\", \"3600\"]\n"), 0o644)
	add("busybox", data, 0o755)
	tw.Close()

	cli := DockerClient(t)
	resp, err := cli.ImageBuild(context.Background(), &ctxTar, build.ImageBuildOptions{Tags: []string{BusyboxImage}, Remove: true})
	if err != nil {
		t.Fatalf("build %s: %v", BusyboxImage, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if _, err := cli.ImageInspect(context.Background(), BusyboxImage); err != nil {
		t.Fatalf("build %s: %v\n%s", BusyboxImage, err, out)
	}
}

// DockerClient connects to the local Docker Engine; without one it skips,
// or fails under CI=true.
func DockerClient(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = cli.Ping(context.Background())
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs a Docker Engine: %v (CI=true: failing instead of skipping)", err)
		}
		t.Skipf("this test needs a Docker Engine: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
