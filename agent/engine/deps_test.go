package engine

import (
	"testing"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

func TestDependenciesMet(t *testing.T) {
	exit := func(code int32) *int32 { return &code }
	cases := []struct {
		name      string
		condition acsmsg.ContainerCondition
		dep       ctr
		ready     bool
		fails     bool
	}{
		{"START waits for the start", acsmsg.ContainerConditionStart, ctr{known: statusNone}, false, false},
		{"START is met once it ran", acsmsg.ContainerConditionStart, ctr{known: statusRunning, everRan: true}, true, false},
		{"COMPLETE waits while it runs", acsmsg.ContainerConditionComplete, ctr{known: statusRunning, everRan: true}, false, false},
		{"COMPLETE is met by any exit", acsmsg.ContainerConditionComplete, ctr{known: statusStopped, everRan: true, exitCode: exit(1)}, true, false},
		{"SUCCESS is met by exit 0", acsmsg.ContainerConditionSuccess, ctr{known: statusStopped, everRan: true, exitCode: exit(0)}, true, false},
		{"SUCCESS can never be met after exit 2", acsmsg.ContainerConditionSuccess, ctr{known: statusStopped, everRan: true, exitCode: exit(2)}, false, true},
		{"HEALTHY waits while UNKNOWN", acsmsg.ContainerConditionHealthy, ctr{known: statusRunning, everRan: true, health: "UNKNOWN"}, false, false},
		{"HEALTHY is met when healthy", acsmsg.ContainerConditionHealthy, ctr{known: statusRunning, everRan: true, health: "HEALTHY"}, true, false},
		{"HEALTHY can never be met once stopped", acsmsg.ContainerConditionHealthy, ctr{known: statusStopped, everRan: true}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dep := tc.dep
			dep.name = "dep"
			target := &ctr{name: "app", known: statusNone, spec: &acsmsg.Container{Name: ecs.Ptr("app"),
				DependsOn: []acsmsg.ContainerDependency{{ContainerName: ecs.Ptr("dep"), Condition: tc.condition}}}}
			tk := &task{arn: "t", createdAt: time.Now(), containers: []*ctr{&dep, target}}
			ready, err := dependenciesMet(tk, target)
			if ready != tc.ready || (err != nil) != tc.fails {
				t.Fatalf("ready %v err %v; want ready %v, fails %v", ready, err, tc.ready, tc.fails)
			}
		})
	}

	t.Run("startTimeout ends the wait", func(t *testing.T) {
		dep := &ctr{name: "dep", known: statusRunning, everRan: true, health: "UNKNOWN"}
		target := &ctr{name: "app", known: statusNone, spec: &acsmsg.Container{Name: ecs.Ptr("app"), StartTimeout: ecs.Ptr(int32(1)),
			DependsOn: []acsmsg.ContainerDependency{{ContainerName: ecs.Ptr("dep"), Condition: acsmsg.ContainerConditionHealthy}}}}
		tk := &task{arn: "t", createdAt: time.Now().Add(-2 * time.Second), containers: []*ctr{dep, target}}
		if _, err := dependenciesMet(tk, target); err == nil {
			t.Fatal("a dependency still not HEALTHY after startTimeout should fail the container")
		}
	})
}
