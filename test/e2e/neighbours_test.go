package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/internal/berthtest"
)

// instanceLabel is the label that names the container instance whose agent
// created a container.
const instanceLabel = "berth.container-instance-arn"

// manifestEvery is how often a Berth server sends its agents the task
// manifest, after which an agent stops the tasks it runs that are not
// listed (internal/acs's defaultManifestEvery).
const manifestEvery = 60 * time.Second

// TestTwoBerthsShareOneEngine runs two Berths with their own data
// directories and ports on the one Docker Engine and the same cluster
// name, as two `berth dev` on a laptop share `default`; then a third
// started afresh, as after `rm -rf ~/.berth`. Each adopts only the
// containers its own agent created: none stops or reports another's, and
// a task of each runs and stops as if it were alone. (The cluster is not
// `default` itself, only so that other tests' runs on this Engine, which
// count and remove the containers of `default`, leave these alone.)
func TestTwoBerthsShareOneEngine(t *testing.T) {
	cluster := uniqueCluster("neighbours")
	dockerForCluster(t, cluster)
	docker := berthtest.DockerClient(t)
	ctx := context.Background()
	bin := buildBerth(t)

	a, b := startPair(t, bin, cluster), startPair(t, bin, cluster)
	for _, p := range []*berthPair{a, b} {
		register(t, p.api, "long", trapTerm("main"))
		register(t, p.api, "once", busybox("main", "true"))
	}
	aTask, bTask := a.run(t, "long"), b.run(t, "long")
	aContainer := aws.ToString(containerOf(a.wait(t, aTask, "RUNNING", status("RUNNING")), "main").RuntimeId)
	bContainer := aws.ToString(containerOf(b.wait(t, bTask, "RUNNING", status("RUNNING")), "main").RuntimeId)
	for container, p := range map[string]*berthPair{aContainer: a, bContainer: b} {
		st, err := docker.ContainerInspect(ctx, container)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Config.Labels[instanceLabel], p.instance(t); got != want {
			t.Fatalf("container %s: %s=%q; want its agent's instance %s", container, instanceLabel, got, want)
		}
	}

	// A restarted: it carries on with its own container, takes none of
	// B's, and its new tasks are reported as soon as they run.
	a.restart(t)
	if got := aws.ToString(containerOf(a.wait(t, aTask, "RUNNING", status("RUNNING")), "main").RuntimeId); got != aContainer {
		t.Fatalf("A's container was replaced after its restart: %s -> %s", aContainer, got)
	}
	if err := ranAndExited0(a.wait(t, a.run(t, "once"), "STOPPED", status("STOPPED"))); err != nil {
		t.Fatalf("A's task after its restart: %v", err)
	}

	// C: a Berth on fresh data directories finds A's and B's containers,
	// with the cluster label it uses too, and takes neither.
	c := startPair(t, bin, cluster)
	lastSession := time.Now() // C's; A's new one began before it
	register(t, c.api, "once", busybox("main", "true"))
	if err := ranAndExited0(c.wait(t, c.run(t, "once"), "STOPPED", status("STOPPED"))); err != nil {
		t.Fatalf("C's task: %v", err)
	}

	// Past the task manifest of A's new session and of C's, an agent that
	// had adopted a stranger's container would have stopped it.
	time.Sleep(time.Until(lastSession.Add(manifestEvery + 5*time.Second)))
	for name, container := range map[string]string{"A's": aContainer, "B's": bContainer} {
		if st, err := docker.ContainerInspect(ctx, container); err != nil || !st.State.Running {
			t.Fatalf("%s container %s no longer runs: %v %+v", name, container, err, st.State)
		}
	}
	b.wait(t, bTask, "RUNNING", status("RUNNING"))

	// Each still stops its own, and only its own.
	for _, x := range []struct {
		p               *berthPair
		task, container string
		otherStillRuns  string
	}{{a, aTask, aContainer, bContainer}, {b, bTask, bContainer, ""}} {
		if _, err := x.p.api.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(x.task)}); err != nil {
			t.Fatal(err)
		}
		x.p.wait(t, x.task, "STOPPED", status("STOPPED"))
		if st, err := docker.ContainerInspect(ctx, x.container); err != nil || st.State.Running {
			t.Fatalf("the stopped task's container %s: %v %+v", x.container, err, st.State)
		}
		if x.otherStillRuns == "" {
			continue
		}
		if st, err := docker.ContainerInspect(ctx, x.otherStillRuns); err != nil || !st.State.Running {
			t.Fatalf("the other Berth's container %s stopped with this one's task: %v %+v", x.otherStillRuns, err, st.State)
		}
	}
}
