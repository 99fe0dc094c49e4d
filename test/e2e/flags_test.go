package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A bad --agent-lost-after, on the command line or in the environment,
// stops `berth server` before it starts, saying what is wrong.
func TestServerRefusesABadAgentLostAfter(t *testing.T) {
	bin := buildBerth(t)
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"zero on the command line", []string{"--agent-lost-after", "0s"}, "", "--agent-lost-after must be a positive duration"},
		{"not a duration in the environment", nil, "BERTH_AGENT_LOST_AFTER=soon", `BERTH_AGENT_LOST_AFTER: time: invalid duration "soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("berth server %v with %q: %v\n%s", tc.args, tc.env, err, out)
			}
		})
	}
}
