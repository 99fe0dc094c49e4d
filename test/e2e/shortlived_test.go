package e2e

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestShortLivedTaskRecordsThatItRan runs, ten times, a task whose only
// container is `busybox true` (a migration with nothing to do): its
// container is gone within milliseconds of its start, and every time the
// task must end as ECS ends it, EssentialContainerExited with a startedAt
// and exit code 0, not TaskFailedToStart. Then the same with a
// non-essential sidecar, which may still be starting when `true` is done.
func TestShortLivedTaskRecordsThatItRan(t *testing.T) {
	cluster := uniqueCluster("shortlived")
	dockerForCluster(t, cluster)
	b := startPair(t, buildBerth(t), cluster)
	sidecar := trapTerm("sidecar")
	sidecar.Essential = aws.Bool(false)
	register(t, b.api, "migrate", busybox("main", "true"))
	register(t, b.api, "migrate-with-sidecar", busybox("main", "true"), sidecar)
	for _, run := range []struct {
		family string
		times  int
	}{{"migrate", 10}, {"migrate-with-sidecar", 5}} {
		for i := range run.times {
			task := b.wait(t, b.run(t, run.family), "STOPPED", status("STOPPED"))
			if err := ranAndExited0(task); err != nil {
				t.Errorf("%s, run %d: %v", run.family, i+1, err)
			}
		}
	}
}
