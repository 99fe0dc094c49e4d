package engine

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

const (
	pause         = docker.PauseContainerName
	testAttachARN = "arn:aws:ecs:us-east-1:000000000000:attachment/0b3f2c1e-1111-4222-8333-444455556666"
)

// awsvpcTask is a task in awsvpc mode with the network interface the
// control plane allocated, as its payload carries it.
func awsvpcTask(id string, containers ...acsmsg.Container) acsmsg.Task {
	tk := taskDef(id, containers...)
	tk.NetworkMode = ecs.Ptr("awsvpc")
	tk.ElasticNetworkInterfaces = []acsmsg.ElasticNetworkInterface{{
		AttachmentArn: ecs.Ptr(testAttachARN), Ec2Id: ecs.Ptr("eni-0123456789abcdef0"), MacAddress: ecs.Ptr("02:42:0a:e0:05:04"),
		Ipv4Addresses:            []acsmsg.IPv4AddressAssignment{{Primary: ecs.Ptr(true), PrivateAddress: ecs.Ptr("10.224.5.4")}},
		SubnetGatewayIpv4Address: ecs.Ptr("10.224.5.1/24"), PrivateDnsName: ecs.Ptr("ip-10-224-5-4.ec2.internal"),
	}}
	return tk
}

// attachmentsOf lists the attachment statuses the task's reports carried,
// in order, with the report's status: "ATTACHED()" for the confirmation
// alone, "DETACHED(STOPPED)".
func (h *harness) attachmentsOf(arn string) []string {
	var out []string
	for _, r := range h.reportsOf(arn) {
		for _, a := range r.Attachments {
			if a.ARN != testAttachARN {
				h.t.Errorf("attachment %s reported; want %s", a.ARN, testAttachARN)
			}
			out = append(out, a.Status+"("+r.Status+")")
		}
	}
	return out
}

func TestAnAWSVPCTaskRunsInItsPauseContainersNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var mu sync.Mutex
		pauseAtStopped := "unreported"
		h.setAnswer(func(ctx context.Context, r Report) error {
			if r.Status == statusStopped {
				mu.Lock()
				pauseAtStopped = h.f.state(pause)
				mu.Unlock()
			}
			return nil
		})
		tk := awsvpcTask("vpc", containerDef("web", withHealthCheck, stopTimeout(7)), containerDef("client", dependsOn("web", acsmsg.ContainerConditionHealthy)))
		arn := *tk.Arn
		h.run()
		h.apply(tk)
		h.waitFor("web started", func() bool { return h.f.state("web") == "running" })
		h.f.setHealth("web", "HEALTHY")
		running := h.waitReport(arn, statusRunning)

		sb := h.f.sandboxOf(pause)
		if sb.Address != netip.MustParseAddr("10.224.5.4") || sb.Subnet != netip.MustParsePrefix("10.224.5.0/24") || sb.Gateway != netip.MustParseAddr("10.224.5.1") ||
			sb.MAC != "02:42:0a:e0:05:04" || sb.Hostname != "ip-10-224-5-4" {
			t.Errorf("the pause container's network: %+v", sb)
		}
		if sb.Labels[docker.LabelTaskARN] != arn || sb.Labels[docker.LabelInstance] != testInstance || sb.Labels[docker.LabelContainerName] != pause {
			t.Errorf("the pause container's labels %v: it must be found again as the task's", sb.Labels)
		}
		if got := h.f.count("RunSandbox", pause); got != 1 {
			t.Errorf("the pause container was made %d times; want once", got)
		}
		for _, name := range []string{"web", "client"} {
			if got, want := h.f.netnsOf(name), h.f.idOf(pause); got != want {
				t.Errorf("%s joined the network of %q; want the pause container's %s", name, got, want)
			}
		}
		if h.f.startOrder(pause) != 1 || h.f.startOrder("client") <= h.f.startOrder("web") {
			t.Errorf("start order: %s", h.f.historyString())
		}
		if _, ok := statuses(running)[pause]; ok {
			t.Errorf("the pause container was reported as one of the task's: %v", statuses(running))
		}

		h.apply(stopped(tk))
		final := h.waitReport(arn, statusStopped)
		h.settle()
		if got := h.f.stops("web"); !slices.Equal(got, []time.Duration{7 * time.Second}) {
			t.Errorf("web stopped with timeouts %v; want its stopTimeout", got)
		}
		removed := h.f.happened("remove " + pause)
		if removed < 0 || removed < h.f.happened("exit web 143") || removed < h.f.happened("exit client 143") {
			t.Errorf("the pause container must be removed after the task's containers stopped: %s", h.f.historyString())
		}
		mu.Lock()
		if pauseAtStopped != "" {
			t.Errorf("when STOPPED was reported the pause container was %q; want it removed", pauseAtStopped)
		}
		mu.Unlock()
		if got, want := h.attachmentsOf(arn), []string{"ATTACHED()", "DETACHED(STOPPED)"}; !slices.Equal(got, want) {
			t.Errorf("attachments reported %v; want %v", got, want)
		}
		if rs := h.reportsOf(arn); len(rs) == 0 || rs[0].Status != "" {
			t.Errorf("the attachment must be confirmed before the task is reported RUNNING: %s", h.describe())
		}
		if final.Reason != "" {
			t.Errorf("stoppedReason %q", final.Reason)
		}
	})
}

func TestAnAWSVPCTaskWhoseNetworkFailsStops(t *testing.T) {
	cases := []struct {
		name   string
		task   func() acsmsg.Task
		breaks func(h *harness) // what goes wrong, once the engine runs
		reason string           // what the stoppedReason must hold
		ran    bool             // whether the task was RUNNING before
		noENI  bool             // no attachment to report DETACHED
	}{
		{
			name: "a payload without a network interface",
			task: func() acsmsg.Task {
				tk := awsvpcTask("vpc", containerDef("web"))
				tk.ElasticNetworkInterfaces = nil
				return tk
			},
			reason: "ResourceInitializationError: the awsvpc task's payload has no elastic network interface", noENI: true,
		},
		{
			name:   "a pause container Docker cannot run",
			task:   func() acsmsg.Task { return awsvpcTask("vpc", containerDef("web")) },
			breaks: func(h *harness) { h.f.failSandbox(errors.New("Address already in use")) },
			reason: "ResourceInitializationError: could not set up the task's awsvpc network: Address already in use",
		},
		{
			name: "a pause container that dies under a running task",
			task: func() acsmsg.Task { return awsvpcTask("vpc", containerDef("web")) },
			breaks: func(h *harness) {
				h.waitFor("web running", func() bool { return h.f.state("web") == "running" })
				h.f.exit(pause, 137)
			},
			reason: sandboxLost, ran: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tk := tc.task()
				if tc.breaks != nil && !tc.ran {
					tc.breaks(h)
				}
				h.run()
				h.apply(tk)
				if tc.breaks != nil && tc.ran {
					tc.breaks(h)
				}
				r := h.waitReport(*tk.Arn, statusStopped)
				h.settle()
				if !strings.Contains(r.Reason, tc.reason) {
					t.Errorf("stoppedReason %q; want %q", r.Reason, tc.reason)
				}
				if !tc.ran && h.f.count("Create", "web") != 0 {
					t.Errorf("web was created without its network: %s", h.f.historyString())
				}
				if st := h.f.state("web"); st == "running" {
					t.Errorf("web still runs")
				}
				if st := h.f.state(pause); st != "" {
					t.Errorf("the pause container is left %s", st)
				}
				if got := h.attachmentsOf(*tk.Arn); !tc.noENI && (len(got) == 0 || got[len(got)-1] != "DETACHED(STOPPED)") {
					t.Errorf("attachments reported %v; the address must be released", got)
				}
			})
		})
	}
}

func TestAnAWSVPCTaskIsAdoptedWithItsPauseContainer(t *testing.T) {
	cases := []struct {
		name    string
		pause   string // the earlier run's pause container: running, exited or "" (gone)
		web     string // the earlier run's web: running, or exited (with 1)
		want    string
		reason  string
		running bool // whether web runs at the end
	}{
		{name: "a running pause container is carried on with, at the same address", pause: "running", web: "running", want: statusRunning, running: true},
		{name: "a pause container that exited meanwhile stops the task", pause: "exited", web: "running", want: statusStopped, reason: sandboxLost},
		{name: "a pause container removed meanwhile stops the task, with no new one", pause: "", web: "running", want: statusStopped, reason: sandboxLost},
		{name: "a task that ended before the agent died, its pause removed, stops for its container's exit", pause: "", web: "exited",
			want: statusStopped, reason: "Essential container in task exited"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				web := containerDef("web")
				tk := awsvpcTask("vpc", web)
				pauseID := ""
				if tc.pause != "" {
					pauseID = h.f.leftoverSandbox(tk, tc.pause)
				}
				h.f.leftover(tk, web, testCluster, testInstance, tc.web, 1)
				if err := h.e.Adopt(t.Context()); err != nil {
					t.Fatal(err)
				}
				h.run()
				h.apply(tk)
				r := h.waitReport(*tk.Arn, tc.want)
				h.settle()
				if r.Reason != tc.reason {
					t.Errorf("stoppedReason %q; want %q", r.Reason, tc.reason)
				}
				if got := h.f.count("RunSandbox", pause) + h.f.count("Create", "web"); got != 0 {
					t.Errorf("%d containers made again: %s", got, h.f.historyString())
				}
				if got := h.f.state("web") == "running"; got != tc.running {
					t.Errorf("web running: %v; want %v", got, tc.running)
				}
				if tc.running {
					if got := h.f.idOf(pause); got != pauseID {
						t.Errorf("the pause container is %s; want the earlier run's %s", got, pauseID)
					}
					return
				}
				if st := h.f.state(pause); st != "" {
					t.Errorf("the pause container is left %s", st)
				}
			})
		})
	}
}
