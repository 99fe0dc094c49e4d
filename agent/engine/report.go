package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// Reports go upstream task by task, never one task behind another: each
// task has its own outbox, sent by a goroutine of its own while it has
// something to say, as the stock agent keeps one event queue per task. So a
// report the control plane keeps failing (a task it does not know, a server
// in trouble) delays only the later reports of that one task. Within a
// task, order is kept: a RUNNING always goes before the STOPPED after it.

// Report is one task's state, as SubmitTaskStateChange carries it.
type Report struct {
	TaskARN            string
	Status             string // RUNNING or STOPPED
	Reason             string
	Containers         []ContainerReport
	PullStartedAt      time.Time
	PullStoppedAt      time.Time
	ExecutionStoppedAt time.Time
	// Attachments are an awsvpc task's network interface attachment:
	// ATTACHED alone in a report with no Status (the stock agent's
	// confirmation, sent before RUNNING), DETACHED in the STOPPED report.
	Attachments []AttachmentReport
}

// AttachmentReport is an attachment's status, as SubmitTaskStateChange's
// attachments carry it.
type AttachmentReport struct {
	ARN    string
	Status string // ATTACHED or DETACHED
}

// ContainerReport is one container's part of a Report.
type ContainerReport struct {
	Name      string
	RuntimeID string
	Status    string
	ExitCode  *int32
	Reason    string
	Bindings  []ecs.NetworkBinding
	Health    string
}

// Reporter sends one report upstream, once. The engine calls it from a
// goroutine of the report's task, one report of a task at a time and in
// order, and decides itself whether to call again: nil means the control
// plane took the report; an error wrapping ErrRejected, that it answered
// in a way sending the same report again would not change, so the report
// is dropped; any other error, that it may take it later, so it is sent
// again with back-off.
type Reporter func(ctx context.Context, r Report) error

// ErrRejected marks a Reporter's error as final: a client error other than
// throttling, such as ECS's "InvalidParameterException: The referenced
// task was not found." for a task the control plane does not know. The
// stock agent drops such a report too.
var ErrRejected = errors.New("the control plane rejected the report")

const (
	// reportsInFlight is how many reports are sent at once, over all
	// tasks; a report waiting out its back-off does not count.
	reportsInFlight = 8
	// reportTimeout bounds one call: a call that hangs is one that failed,
	// and gives its place to another task's report.
	reportTimeout = 30 * time.Second
	// A failed report is sent again after 250 ms, then twice as long each
	// time, up to 30 s.
	reportBackoffMin = 250 * time.Millisecond
	reportBackoffMax = 30 * time.Second
)

// queueReport puts the task's state in its outbox when it changed, and
// starts sending the outbox unless that is under way.
func (e *Engine) queueReport(ctx context.Context, t *task) {
	if t.known != statusRunning && t.known != statusStopped {
		return
	}
	r := Report{TaskARN: t.arn, Status: t.known, PullStartedAt: t.pullStart, PullStoppedAt: t.pullStop}
	if t.known == statusStopped {
		r.Reason, r.ExecutionStoppedAt, r.Attachments = t.reason, t.stoppedAt, t.detached()
	}
	var sig []string
	for _, c := range t.containers {
		status := c.known
		if status != statusRunning && status != statusStopped {
			continue
		}
		cr := ContainerReport{Name: c.name, RuntimeID: c.id, Status: status, ExitCode: c.exitCode, Reason: c.reason, Bindings: c.bindings, Health: c.health}
		r.Containers = append(r.Containers, cr)
		code := ""
		if c.exitCode != nil {
			code = fmt.Sprint(*c.exitCode)
		}
		sig = append(sig, c.name+"="+status+":"+code+":"+fmt.Sprint(len(c.bindings)))
	}
	sort.Strings(sig)
	state := t.known + "|" + strings.Join(sig, ",")
	if state == t.reported {
		return
	}
	t.reported = state
	t.runningQueued = t.runningQueued || r.Status == statusRunning
	e.enqueue(ctx, t, r)
}

// enqueue puts a report in the task's outbox and starts sending it unless
// that is under way.
func (e *Engine) enqueue(ctx context.Context, t *task, r Report) {
	// A report replaces an unsent one of the same status, as it says all
	// that one did (container states only move forward); it never
	// replaces one of another status, so a STOPPED never overtakes the
	// RUNNING before it.
	if n := len(t.outbox); n > 0 && t.outbox[n-1].Status == r.Status {
		t.outbox[n-1] = r
	} else {
		t.outbox = append(t.outbox, r)
	}
	if !t.sending {
		t.sending = true
		go e.deliver(ctx, t)
	}
}

// deliver sends the task's outbox, oldest first, until it is empty. It is
// the only goroutine sending the task's reports, so they arrive in order.
func (e *Engine) deliver(ctx context.Context, t *task) {
	backoff := reportBackoffMin
	var r Report
	again := false // r failed and is to be sent again
	for {
		e.mu.Lock()
		if again && len(t.outbox) > 0 && t.outbox[0].Status == r.Status {
			again = false // a newer report of the same status says all r did
		}
		if !again {
			if len(t.outbox) == 0 || ctx.Err() != nil {
				t.sending = false
				e.mu.Unlock()
				return
			}
			r, t.outbox = t.outbox[0], t.outbox[1:]
		}
		e.mu.Unlock()

		err := e.attempt(ctx, r)
		switch {
		case err == nil:
			again, backoff = false, reportBackoffMin
		case errors.Is(err, ErrRejected):
			e.log.Warn("task state report rejected; not sending it again", "task", r.TaskARN, "status", r.Status, "err", err)
			again, backoff = false, reportBackoffMin
		case ctx.Err() != nil:
			e.mu.Lock()
			t.sending = false
			e.mu.Unlock()
			return
		default:
			e.log.Warn("task state report failed; retrying", "task", r.TaskARN, "status", r.Status, "err", err, "in", backoff)
			again = true
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, reportBackoffMax)
		}
	}
}

// attempt calls the reporter once, within reportTimeout, when one of the
// reportsInFlight places is free.
func (e *Engine) attempt(ctx context.Context, r Report) error {
	select {
	case e.sends <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.sends }()
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	return e.report(ctx, r)
}
