package engine

import (
	"strings"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// Container statuses as the engine knows them; only RUNNING and STOPPED are
// reported upstream, as the stock agent does.
const (
	statusNone    = "NONE"
	statusCreated = "CREATED"
	statusRunning = "RUNNING"
	statusStopped = "STOPPED"
)

// task is one task on this machine: what the control plane wants (spec,
// desired) and what Docker shows (known, containers).
type task struct {
	arn     string
	spec    *acsmsg.Task // nil for a task adopted from Docker before its payload arrived
	desired string       // RUNNING or STOPPED
	known   string       // NONE, RUNNING or STOPPED
	reason  string       // why it stopped, when the agent decided it

	containers []*ctr
	net        *sandbox // an awsvpc task's network (awsvpc.go); nil in other network modes
	prepared   bool     // volumes exist
	createdAt  time.Time
	pullStart  time.Time
	pullStop   time.Time
	stoppedAt  time.Time
	adoptedAt  time.Time // when a task without a payload was found in Docker

	// The task's cgroup (taskcgroup.go).
	cgroupReady        bool   // made, or found not needed
	cgroupParent       string // its containers' cgroup parent; "" for none
	cgroupRemoved      bool
	cgroupRemoveWarned bool

	reported      string   // the state last handed to the reporter, to report changes once
	runningQueued bool     // a RUNNING report was handed to the reporter
	outbox        []Report // reports not yet sent, oldest first (see report.go)
	sending       bool     // a goroutine is sending the outbox
}

// ctr is one container of a task.
type ctr struct {
	name      string
	spec      *acsmsg.Container
	id        string // Docker's id, once created
	known     string
	starting  bool // a create and start is in flight
	stopping  bool
	exitCode  *int32
	reason    string
	health    string
	bindings  []ecs.NetworkBinding
	startedAt time.Time
	everRan   bool
}

func (t *task) id() string {
	if i := strings.LastIndex(t.arn, "/"); i >= 0 {
		return t.arn[i+1:]
	}
	return t.arn
}

func (t *task) container(name string) *ctr {
	for _, c := range t.containers {
		if c.name == name {
			return c
		}
	}
	return nil
}

// ran reports whether every container of the task runs or has run: the
// task was RUNNING, if only for a moment.
func (t *task) ran() bool {
	for _, c := range t.containers {
		if c.known != statusRunning && !(c.known == statusStopped && c.everRan) {
			return false
		}
	}
	return true
}

func (c *ctr) essential() bool { return c.spec == nil || c.spec.Essential == nil || *c.spec.Essential }

// dockerName is the container's name in Docker. It is fixed by the task and
// container, so a create retried after a crash finds the first one.
func dockerName(t *task, c *ctr) string {
	family, version := "task", "0"
	if t.spec != nil {
		family, version = ecs.Val(t.spec.Family), ecs.Val(t.spec.Version)
	}
	id := t.id()
	if len(id) > 20 {
		id = id[:20]
	}
	return "ecs-" + family + "-" + version + "-" + c.name + "-" + id
}

// merge takes a payload's version of a task. Desired status only moves
// forward: a late RUNNING never undoes a STOPPED.
func (t *task) merge(spec *acsmsg.Task) {
	if t.spec == nil {
		t.spec = spec
		for _, sc := range spec.Containers {
			sc := sc
			if c := t.container(ecs.Val(sc.Name)); c != nil {
				c.spec = &sc // adopted from Docker: now we know its definition
				continue
			}
			t.containers = append(t.containers, &ctr{name: ecs.Val(sc.Name), spec: &sc, known: statusNone})
		}
	}
	if d := ecs.Val(spec.DesiredStatus); d == statusStopped || t.desired == "" {
		t.desired = d
	}
}
