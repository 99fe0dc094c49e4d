package server

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// Quotas are ECS's service quotas on how much one account may keep: every
// account's records share one etcd, whose space quota, once full, stops
// every account's writes. A zero field means ECS's default (DefaultQuotas);
// an operator lowers or raises them with `--quota name=value`. The fixed
// limits ECS does not let anyone adjust (50 tags per resource, 64 KiB and
// 10 containers per task definition, 10 tasks per RunTask, ...) stay where
// they are checked, as constants.
type Quotas struct {
	ClustersPerAccount           int // ACTIVE clusters of an account in one Region
	ContainerInstancesPerCluster int // ACTIVE and DRAINING container instances of a cluster
	ServicesPerCluster           int // ACTIVE and DRAINING services of a cluster
	TasksPerService              int // a service's desiredCount
	RevisionsPerFamily           int // revisions ever registered in a task definition family
}

// DefaultQuotas are ECS's defaults ("Amazon ECS service quotas", Amazon ECS
// Developer Guide).
var DefaultQuotas = Quotas{
	ClustersPerAccount:           10_000,
	ContainerInstancesPerCluster: 5_000,
	ServicesPerCluster:           5_000,
	TasksPerService:              5_000,
	RevisionsPerFamily:           1_000_000,
}

// quotaFlags names each quota for `--quota name=value`: the one table of
// them, which Set, String and the documentation follow.
var quotaFlags = []struct {
	name  string
	field func(*Quotas) *int
}{
	{"clusters-per-account", func(q *Quotas) *int { return &q.ClustersPerAccount }},
	{"container-instances-per-cluster", func(q *Quotas) *int { return &q.ContainerInstancesPerCluster }},
	{"services-per-cluster", func(q *Quotas) *int { return &q.ServicesPerCluster }},
	{"tasks-per-service", func(q *Quotas) *int { return &q.TasksPerService }},
	{"revisions-per-family", func(q *Quotas) *int { return &q.RevisionsPerFamily }},
}

// QuotaNames are the names `--quota` accepts.
func QuotaNames() []string {
	names := make([]string, len(quotaFlags))
	for i, f := range quotaFlags {
		names[i] = f.name
	}
	return names
}

// Set reads one `name=value` (flag.Value: the flag may be repeated).
func (q *Quotas) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("quota %q: want name=value, e.g. services-per-cluster=100", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || n < 1 {
		return fmt.Errorf("quota %q: the value must be a whole number of at least 1", s)
	}
	for _, f := range quotaFlags {
		if f.name == strings.TrimSpace(name) {
			*f.field(q) = n
			return nil
		}
	}
	return fmt.Errorf("quota %q: unknown quota; known: %s", s, strings.Join(QuotaNames(), ", "))
}

// String lists the quotas set, as Set reads them (flag.Value).
func (q *Quotas) String() string {
	if q == nil {
		return ""
	}
	var parts []string
	for _, f := range quotaFlags {
		if n := *f.field(q); n != 0 {
			parts = append(parts, f.name+"="+strconv.Itoa(n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// withDefaults fills each quota left at zero with ECS's default.
func (q Quotas) withDefaults() Quotas {
	def := DefaultQuotas
	for _, f := range quotaFlags {
		if *f.field(&q) == 0 {
			*f.field(&q) = *f.field(&def)
		}
	}
	return q
}

// The errors of a quota reached. CreateCluster, CreateService and
// RegisterContainerInstance do not list LimitExceededException in ECS's
// model, so they answer ClientException, as ECS answers "Too many
// containers."; RegisterTaskDefinition lists it. The words are Berth's.

func errClustersQuota(limit int) error {
	return ecs.NewClientException("Too many clusters: the account has reached its quota of %d clusters in this Region.", limit)
}

func errInstancesQuota(limit int) error {
	return ecs.NewClientException("Too many container instances: the cluster has reached its quota of %d container instances.", limit)
}

func errServicesQuota(limit int) error {
	return ecs.NewClientException("Too many services: the cluster has reached its quota of %d services.", limit)
}

func errRevisionsQuota(family string, limit int) error {
	return ecs.NewLimitExceededException("The task definition family %s has reached its quota of %d revisions. Deregistered revisions count towards it.", family, limit)
}

// checkDesiredCount refuses a desiredCount above the tasks-per-service
// quota before anything is written.
func (s *Server) checkDesiredCount(n int32) error {
	if limit := s.quotas.TasksPerService; int(n) > limit {
		return ecs.NewInvalidParameterException("The desired count %d is more than the quota of %d tasks per service.", n, limit)
	}
	return nil
}

// clusterQuotaGuard checks, inside a write's plan, that the scope may have
// one more cluster, and answers the guard op the write must carry: it
// conflicts with every other cluster creation committed since the count.
func (s *Server) clusterQuotaGuard(sc state.Scope) (store.Op, error) {
	n := 0
	for _, o := range s.store.List(sc.Prefix(state.KindCluster), "", 0) {
		if c, err := decode[state.Cluster](s, o); err == nil && c.Status == state.StatusActive {
			n++
		}
	}
	if n >= s.quotas.ClustersPerAccount {
		return store.Op{}, errClustersQuota(s.quotas.ClustersPerAccount)
	}
	key := sc.Key(state.KindQuotaGuard, state.QuotaGuardClusters)
	guard := &state.QuotaGuard{Schema: state.QuotaGuardSchema, Counts: state.QuotaGuardClusters}
	if o, found := s.store.Get(key); found {
		return store.Put(key, guard, o.Rev), nil
	}
	return store.Create(key, guard), nil
}

// checkInstanceQuota: may the cluster take one more container instance?
// The registration's write rewrites the cluster, so two racing at the
// limit conflict and the second counts again.
func (s *Server) checkInstanceQuota(sc state.Scope, cluster string) error {
	if s.clusterInstanceCount(sc, cluster) >= s.quotas.ContainerInstancesPerCluster {
		return errInstancesQuota(s.quotas.ContainerInstancesPerCluster)
	}
	return nil
}

// checkServiceQuota: may the cluster take one more service? As for
// instances, the creation rewrites the cluster.
func (s *Server) checkServiceQuota(sc state.Scope, cluster string) error {
	if s.clusterServiceCount(sc, cluster, true) >= s.quotas.ServicesPerCluster {
		return errServicesQuota(s.quotas.ServicesPerCluster)
	}
	return nil
}
