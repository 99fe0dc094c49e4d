package acs

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/api/tcs"
)

// Kinds of agent reports that are dropped, as /metrics labels them.
const (
	droppedMetrics    = "metrics"    // container metrics of a task not on the session's instance
	droppedHealth     = "health"     // container health of such a task
	droppedUnreadable = "unreadable" // a frame that is not a protocol frame
)

var droppedKinds = []string{droppedMetrics, droppedHealth, droppedUnreadable}

// dropLogEvery bounds the log lines about dropped reports: an agent that
// sends a stray report in every frame must not fill the log.
const dropLogEvery = time.Minute

// DroppedReports counts what agents reported that was not accepted, for
// /metrics (berth_agent_reports_dropped_total by kind: no tenant's names),
// and logs a summary at most once a minute.
type DroppedReports struct {
	counts map[string]*atomic.Uint64 // by kind; fixed at construction
	desc   *prometheus.Desc

	mu       sync.Mutex
	loggedAt time.Time
	unlogged uint64
}

// NewDroppedReports returns zeroed counters; register them with a registry.
func NewDroppedReports() *DroppedReports {
	d := &DroppedReports{counts: map[string]*atomic.Uint64{},
		desc: prometheus.NewDesc("berth_agent_reports_dropped_total",
			"Reports from agents that were dropped: for a task not on the reporting agent's own container instance (metrics, health), or unreadable frames.",
			[]string{"kind"}, nil)}
	for _, k := range droppedKinds {
		d.counts[k] = &atomic.Uint64{}
	}
	return d
}

// add counts n dropped reports of kind; the log hears of them rarely.
func (d *DroppedReports) add(log *slog.Logger, a Agent, kind string, n int) {
	if n <= 0 {
		return
	}
	d.counts[kind].Add(uint64(n))
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unlogged += uint64(n)
	if now := time.Now(); now.Sub(d.loggedAt) >= dropLogEvery {
		log.Warn("dropped agent reports (counted in berth_agent_reports_dropped_total; logged at most once a minute)",
			"count", d.unlogged, "lastKind", kind, "lastInstance", a.InstanceARN)
		d.loggedAt, d.unlogged = now, 0
	}
}

// Describe implements prometheus.Collector.
func (d *DroppedReports) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

// Collect implements prometheus.Collector.
func (d *DroppedReports) Collect(ch chan<- prometheus.Metric) {
	for _, k := range droppedKinds {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.counts[k].Load()), k)
	}
}

// ownReports keeps the reports whose task the session's instance runs, each
// with the task's ARN as stored and sifted by keep (which may trim it),
// and counts the others as dropped.
func ownReports[T any](e *Endpoints, a Agent, kind string, in []T, taskARN func(*T) **string, keep func(*T, ReportedTask) bool) []T {
	var out []T
	for _, r := range in {
		ref := taskARN(&r)
		t, ok := e.Backend.InstanceTask(a, ecs.Val(*ref))
		if !ok || !keep(&r, t) {
			continue
		}
		*ref = ecs.Ptr(t.ARN)
		out = append(out, r)
	}
	e.dropped().add(e.log(), a, kind, len(in)-len(out))
	return out
}

// ownMetrics keeps the metrics of the instance's tasks, and of each only
// its own containers' (an agent naming containers at will would otherwise
// grow a series for each name).
func ownMetrics(e *Endpoints, a Agent, in []tcs.TaskMetric) []tcs.TaskMetric {
	return ownReports(e, a, droppedMetrics, in, func(m *tcs.TaskMetric) **string { return &m.TaskArn },
		func(m *tcs.TaskMetric, t ReportedTask) bool {
			var kept []tcs.ContainerMetric
			for _, c := range m.ContainerMetrics {
				if slices.Contains(t.Containers, ecs.Val(c.ContainerName)) {
					kept = append(kept, c)
				}
			}
			stray := len(kept) == 0 && len(m.ContainerMetrics) > 0
			m.ContainerMetrics = kept
			return !stray
		})
}

// ownHealth keeps the health reports of the instance's tasks; ReportHealth
// looks at the containers a task has only.
func ownHealth(e *Endpoints, a Agent, in []tcs.TaskHealth) []tcs.TaskHealth {
	return ownReports(e, a, droppedHealth, in, func(h *tcs.TaskHealth) **string { return &h.TaskArn },
		func(*tcs.TaskHealth, ReportedTask) bool { return true })
}
