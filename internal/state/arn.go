package state

import (
	"regexp"
	"strconv"
	"strings"
)

// ARN is a parsed ECS ARN: arn:aws:ecs:REGION:ACCOUNT:TYPE/ID...
type ARN struct {
	Region, Account string
	Kind            string   // "cluster", "task-definition", "container-instance", ...
	Path            []string // the parts after the kind, split on "/"
}

// ParseARN splits an ECS ARN; ok is false for anything that is not one.
func ParseARN(s string) (ARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecs" || parts[3] == "" || parts[4] == "" {
		return ARN{}, false
	}
	kind, rest, found := strings.Cut(parts[5], "/")
	if !found || kind == "" || rest == "" {
		return ARN{}, false
	}
	return ARN{Region: parts[3], Account: parts[4], Kind: kind, Path: strings.Split(rest, "/")}, true
}

// InScope reports whether the ARN names a resource of this account and region.
func (a ARN) InScope(sc Scope) bool {
	return a.Account == sc.Account && a.Region == sc.Region
}

func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// clusterResourceFrom returns the name or id that a reference to a resource
// of a cluster names in cluster: the bare name or id, or an ARN of kind in
// the long form (kind/cluster/id, which must be this cluster) or the short
// one (kind/id).
func clusterResourceFrom(sc Scope, kind, cluster, ref string) (string, bool) {
	if !IsARN(ref) {
		return ref, ref != "" && !strings.Contains(ref, "/")
	}
	a, ok := ParseARN(ref)
	if !ok || a.Kind != kind || !a.InScope(sc) {
		return "", false
	}
	switch len(a.Path) {
	case 1:
		return a.Path[0], true
	case 2:
		return a.Path[1], a.Path[0] == cluster
	}
	return "", false
}

// InstanceIDFrom returns the id of the container instance that a reference
// (an id, or an ARN in the long cluster/id or the old short format) names
// in cluster, and false when it cannot name one there.
func InstanceIDFrom(sc Scope, cluster, ref string) (string, bool) {
	return clusterResourceFrom(sc, "container-instance", cluster, ref)
}

// InstanceARNFor is the ARN that a failure reports for a reference.
func InstanceARNFor(sc Scope, cluster, ref string) string {
	if IsARN(ref) {
		return ref
	}
	return sc.ARN("container-instance/" + cluster + "/" + ref)
}

// ServiceNameFrom returns the name a "service" parameter (a name or an ARN,
// long or short) refers to in cluster.
func ServiceNameFrom(sc Scope, cluster, ref string) (string, bool) {
	return clusterResourceFrom(sc, "service", cluster, ref)
}

// TaskIDFrom returns the id of the task a reference (an id, or an ARN in
// the long cluster/id or the old short format) names in cluster.
func TaskIDFrom(sc Scope, cluster, ref string) (string, bool) {
	return clusterResourceFrom(sc, "task", cluster, ref)
}

// ClusterNameFrom returns the cluster name that a "cluster" parameter (a
// name or a full ARN; empty for the default) refers to in this scope, and
// false when it cannot be one of this scope's clusters.
func ClusterNameFrom(sc Scope, ref string) (string, bool) {
	if ref == "" {
		return DefaultClusterName, true
	}
	if !IsARN(ref) {
		return ref, true
	}
	a, ok := ParseARN(ref)
	if !ok || a.Kind != "cluster" || len(a.Path) != 1 || !a.InScope(sc) {
		return "", false
	}
	return a.Path[0], true
}

// ProviderNameFrom returns the name a capacityProvider parameter (a name or
// an ARN) refers to in this scope.
func ProviderNameFrom(sc Scope, ref string) (string, bool) {
	if !IsARN(ref) {
		return ref, ref != ""
	}
	a, ok := ParseARN(ref)
	if !ok || a.Kind != "capacity-provider" || len(a.Path) != 1 || !a.InScope(sc) {
		return "", false
	}
	return a.Path[0], true
}

// TaskDefRef is a parsed taskDefinition parameter: "family",
// "family:revision" or a full ARN. Revision 0 means the latest ACTIVE one.
type TaskDefRef struct {
	Family   string
	Revision int
}

func ParseTaskDefRef(sc Scope, ref string) (TaskDefRef, bool) {
	if IsARN(ref) {
		a, ok := ParseARN(ref)
		if !ok || a.Kind != "task-definition" || len(a.Path) != 1 || !a.InScope(sc) {
			return TaskDefRef{}, false
		}
		ref = a.Path[0]
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if !familyPattern.MatchString(family) {
		return TaskDefRef{}, false
	}
	if !hasRev {
		return TaskDefRef{Family: family}, true
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 {
		return TaskDefRef{}, false
	}
	return TaskDefRef{Family: family, Revision: n}, true
}

// familyPattern is what a task definition family may be named.
var familyPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
