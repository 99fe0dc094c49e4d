package e2e

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/berthtest"
)

// What the AWS CLI prints for empty answers is what ECS's answer holds:
// `aws ecs list-tasks` on an empty cluster prints "taskArns": [], not
// nothing (see internal/server/shapes.go).
func TestAWSCLIPrintsEmptyLists(t *testing.T) {
	awsCLI = berthtest.NeedTool(t, "/usr/bin/aws", "aws")
	s := &server{t: t, bin: buildBerth(t), dataDir: t.TempDir()}
	s.start()
	t.Cleanup(s.kill)
	s.aws(t, "create-cluster", "--cluster-name", "empty")

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"list-tasks", "--cluster", "empty"}, []string{`"taskArns": []`}},
		{[]string{"list-services", "--cluster", "empty"}, []string{`"serviceArns": []`}},
		{[]string{"describe-services", "--cluster", "empty", "--services", "nope"}, []string{`"services": []`, `"reason": "MISSING"`}},
		{[]string{"describe-clusters", "--clusters", "empty"}, []string{`"statistics": []`, `"capacityProviders": []`, `"failures": []`}},
	} {
		out, err := s.awsRaw(c.args...)
		if err != nil {
			t.Fatalf("aws ecs %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("aws ecs %s printed\n%s\nwithout %s", strings.Join(c.args, " "), out, w)
			}
		}
	}
}
