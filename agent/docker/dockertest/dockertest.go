// Package dockertest is what the agent's tests on the real Docker Engine
// share: a runtime that skips without an Engine (and fails instead under
// CI=true), the busybox image they run, and address ranges of their own.
// It is internal/berthtest's Docker part without the control plane, so
// that the agent's test binaries (which become pause images) stay small.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/berth-project/berth/agent/docker"
)

// BusyboxImage is FROM scratch with Debian's static busybox as
// /bin/busybox and /bin/sh, as internal/berthtest builds it.
const BusyboxImage = "berth-test/busybox:latest"

// Runtime connects to the local Docker Engine; without one it skips, or
// fails under CI=true.
func Runtime(t testing.TB) *docker.Runtime {
	t.Helper()
	rt, err := docker.New(context.Background())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs a Docker Engine: %v (CI=true: failing instead of skipping)", err)
		}
		t.Skipf("this test needs a Docker Engine: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// Busybox builds BusyboxImage. Without busybox-static it skips, or fails
// under CI=true.
func Busybox(t testing.TB, rt *docker.Runtime) {
	t.Helper()
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs a static /bin/busybox (apt-get install busybox-static): %v", err)
		}
		t.Skipf("this test needs a static /bin/busybox (apt-get install busybox-static): %v", err)
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
	resp, err := rt.Client().ImageBuild(context.Background(), &ctxTar, build.ImageBuildOptions{Tags: []string{BusyboxImage}, Remove: true})
	if err != nil {
		t.Fatalf("build %s: %v", BusyboxImage, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if _, err := rt.Client().ImageInspect(context.Background(), BusyboxImage); err != nil {
		t.Fatalf("build %s: %v\n%s", BusyboxImage, err, out)
	}
}

// Subnet picks a /24 for the test in 10.239.0.0/16, the top of the
// control plane's default pool, that no Docker network on the Engine
// uses: other Berths and tests may share it. The test's network (if it is
// left) is removed at its end.
func Subnet(t testing.TB, rt *docker.Runtime) netip.Prefix {
	t.Helper()
	ctx := context.Background()
	nets, err := rt.Client().NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			used[c.Subnet] = true
		}
	}
	for range 100 {
		p := netip.MustParsePrefix(fmt.Sprintf("10.239.%d.0/24", rand.IntN(256)))
		if used[p.String()] {
			continue
		}
		t.Cleanup(func() {
			list, _ := rt.Client().NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", docker.NetworkName(p)))})
			for _, n := range list {
				if n.Name == docker.NetworkName(p) && n.Labels[docker.LabelAWSVPC] == "true" {
					rt.Client().NetworkRemove(ctx, n.ID)
				}
			}
		})
		return p
	}
	t.Fatal("no free /24 in 10.239.0.0/16")
	return netip.Prefix{}
}

// RemoveTask removes, at the test's end, every container that carries the
// task's ARN (the test's own: its ARN is unique), whatever the test left.
func RemoveTask(t testing.TB, rt *docker.Runtime, taskARN string) {
	t.Cleanup(func() {
		ctx := context.Background()
		list, err := rt.Client().ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelTaskARN+"="+taskARN))})
		if err != nil {
			t.Logf("list the test's containers: %v", err)
			return
		}
		for _, c := range list {
			rt.Remove(ctx, c.ID)
		}
	})
}

// TaskARN is a task ARN no other test or Berth uses.
func TaskARN() string {
	return fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/default/%016x%016x", rand.Uint64(), rand.Uint64())
}
