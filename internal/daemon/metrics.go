package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-project/berth/api/ecs"
)

// apiMetrics count and time API requests by operation and outcome.
type apiMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_api_requests_total",
			Help: "ECS API requests by operation and error code (empty for success).",
		}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_api_request_duration_seconds",
			Help:    "ECS API request latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"operation"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// knownOperations keeps label values bounded: a client can send any
// X-Amz-Target, but only the model's operations become label values.
var knownOperations = func() map[string]bool {
	ops := map[string]bool{}
	for _, o := range ecs.Operations {
		ops[o.Name] = true
	}
	return ops
}()

func (m *apiMetrics) observe(op, code string, elapsed time.Duration) {
	if !knownOperations[op] {
		op = "unknown"
	}
	m.requests.WithLabelValues(op, code).Inc()
	m.latency.WithLabelValues(op).Observe(elapsed.Seconds())
}
