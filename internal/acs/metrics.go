package acs

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/api/tcs"
)

// TaskMetrics keeps the latest container metrics agents publish over TCS
// and exposes them on /metrics: Berth's stand-in for the CloudWatch metrics
// ECS derives from the same reports. Series of containers that stopped
// reporting go away after staleAfter. Its labels name tenants' accounts,
// clusters, tasks and containers, so the daemon registers it only when the
// operator asks (--tenant-metrics). Only reports an agent made for the
// tasks of its own instance reach it (ownMetrics), kept by account.
type TaskMetrics struct {
	mu     sync.Mutex
	latest map[metricKey]metricValue
	now    func() time.Time

	cpu, memory *prometheus.Desc
}

type metricKey struct{ account, cluster, task, container string }

type metricValue struct {
	cpu, memory float64
	at          time.Time
}

const staleAfter = 5 * time.Minute

// NewTaskMetrics returns an empty collector; register it with a registry.
func NewTaskMetrics() *TaskMetrics {
	labels := []string{"account", "cluster", "task", "container"}
	return &TaskMetrics{
		latest: map[metricKey]metricValue{},
		now:    time.Now,
		cpu:    prometheus.NewDesc("berth_container_cpu_utilized", "CPU use of a task's container as its agent last reported it (the average over the report's samples).", labels, nil),
		memory: prometheus.NewDesc("berth_container_memory_utilized_megabytes", "Memory use of a task's container as its agent last reported it, in MB (the average over the report's samples).", labels, nil),
	}
}

func average(s *tcs.CWStatsSet) (float64, bool) {
	if s == nil || ecs.Val(s.SampleCount) == 0 {
		return 0, false
	}
	return ecs.Val(s.Sum) / float64(ecs.Val(s.SampleCount)), true
}

// record takes the metrics of one PublishMetricsRequest for the tasks of
// the agent's instance (their ARNs as stored).
func (m *TaskMetrics) record(a Agent, tasks []tcs.TaskMetric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, t := range tasks {
		for _, c := range t.ContainerMetrics {
			v := metricValue{at: now}
			cpu, okCPU := average(c.CpuStatsSet)
			mem, okMem := average(c.MemoryStatsSet)
			if !okCPU && !okMem {
				continue
			}
			v.cpu, v.memory = cpu, mem
			m.latest[metricKey{a.Account, a.Cluster, ecs.Val(t.TaskArn), ecs.Val(c.ContainerName)}] = v
		}
	}
}

// Describe implements prometheus.Collector.
func (m *TaskMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.cpu
	ch <- m.memory
}

// Collect implements prometheus.Collector.
func (m *TaskMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, v := range m.latest {
		if now.Sub(v.at) > staleAfter {
			delete(m.latest, k)
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.cpu, prometheus.GaugeValue, v.cpu, k.account, k.cluster, k.task, k.container)
		ch <- prometheus.MustNewConstMetric(m.memory, prometheus.GaugeValue, v.memory, k.account, k.cluster, k.task, k.container)
	}
}
