package server

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/ecs"
)

// Request throttling as ECS does it ("Request throttling for the Amazon ECS
// API"): a token bucket per account, Region and category of actions, each
// with ECS's burst (the bucket's size) and sustained rate (its refill per
// second). A call over the rate answers HTTP 400 ThrottlingException "Rate
// exceeded", which the AWS SDKs and CLI retry with back-off. The
// categories keep one kind of traffic from starving another: the agents'
// state reports (SubmitTaskStateChange, ...) have a bucket of their own, so
// a user's burst of DescribeTasks, signed by the same account, never holds
// back what the agents report.

// Limit is one bucket's size and refill. A Rate of 0 means unlimited.
type Limit struct {
	Rate  float64 // tokens added per second: the sustained rate
	Burst int     // the bucket's size: the most calls in one instant
}

// Throttling configures the buckets. The zero value is ECS's documented
// rates; Off turns throttling off, and Limits overrides the limit of a
// category by name (see ThrottleGroups), or of every one as "all". A
// non-nil empty Limits (`--throttle ecs`) asks for ECS's rates explicitly,
// where a mode's default is otherwise off (the emulator's).
type Throttling struct {
	Off    bool
	Limits map[string]Limit
}

// The categories of ECS's table, with its limits, and the actions in each.
// Actions the table does not list are in "other", with the read actions'
// limits (Berth's choice), or in the category they belong with: task sets
// with service-modify and service-read, DiscoverPollEndpoint with agent.
var throttleGroups = []struct {
	name    string
	limit   Limit
	actions []string
}{
	{"cluster-modify", Limit{1, 20}, []string{"CreateCluster", "DeleteCluster", "PutClusterCapacityProviders", "UpdateCluster", "UpdateClusterSettings"}},
	{"cluster-read", Limit{20, 50}, []string{"DescribeClusters", "ListClusters"}},
	{"task-definition-modify", Limit{1, 20}, []string{"DeregisterTaskDefinition", "RegisterTaskDefinition"}},
	{"task-definition-read", Limit{20, 50}, []string{"DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"}},
	{"task-definition-delete", Limit{1, 5}, []string{"DeleteTaskDefinitions"}},
	{"capacity-provider-modify", Limit{1, 10}, []string{"CreateCapacityProvider", "DeleteCapacityProvider", "UpdateCapacityProvider"}},
	{"capacity-provider-read", Limit{20, 50}, []string{"DescribeCapacityProviders"}},
	{"tag-modify", Limit{10, 20}, []string{"TagResource", "UntagResource"}},
	{"tag-read", Limit{20, 50}, []string{"ListTagsForResource"}},
	{"setting-modify", Limit{1, 10}, []string{"DeleteAccountSetting", "PutAccountSetting", "PutAccountSettingDefault"}},
	{"setting-read", Limit{20, 50}, []string{"ListAccountSettings"}},
	{"cluster-resource-modify", Limit{40, 100}, []string{"DeleteAttributes", "DeregisterContainerInstance", "ExecuteCommand", "PutAttributes",
		"RunTask", "StartTask", "StopTask", "UpdateContainerAgent", "UpdateContainerInstancesState"}},
	{"cluster-resource-read", Limit{20, 100}, []string{"DescribeContainerInstances", "DescribeTasks", "ListAttributes", "ListContainerInstances", "ListTasks"}},
	{"agent", Limit{120, 200}, []string{"RegisterContainerInstance", "SubmitAttachmentStateChanges", "SubmitContainerStateChange", "SubmitTaskStateChange",
		"DiscoverPollEndpoint"}},
	{"service-modify", Limit{5, 50}, []string{"CreateService", "DeleteService", "UpdateService",
		"CreateTaskSet", "DeleteTaskSet", "UpdateTaskSet", "UpdateServicePrimaryTaskSet", "StopServiceDeployment", "ContinueServiceDeployment"}},
	{"service-read", Limit{20, 100}, []string{"DescribeServices", "ListServices", "DescribeTaskSets"}},
	{"service-deployment", Limit{20, 50}, []string{"DescribeServiceDeployments", "ListServiceDeployments"}},
	{"service-revision", Limit{20, 50}, []string{"DescribeServiceRevisions"}},
	{"task-protection", Limit{80, 200}, []string{"UpdateTaskProtection", "GetTaskProtection"}},
	{"cluster-service-read", Limit{1, 10}, []string{"ListServicesByNamespace"}},
	{otherActions, Limit{20, 50}, nil},
}

const otherActions = "other"

// groupOf is the category of each action named in throttleGroups.
var groupOf = func() map[string]string {
	m := map[string]string{}
	for _, g := range throttleGroups {
		for _, a := range g.actions {
			m[a] = g.name
		}
	}
	return m
}()

// ThrottleGroups are the category names `--throttle` accepts, besides
// "all" and "off".
func ThrottleGroups() []string {
	names := make([]string, len(throttleGroups))
	for i, g := range throttleGroups {
		names[i] = g.name
	}
	return names
}

// Set reads one `--throttle` value (flag.Value: the flag may be
// repeated): "off", or "category=rate/burst", or "category=0" for no
// limit; the category "all" sets every one.
func (t *Throttling) Set(s string) error {
	switch strings.TrimSpace(s) {
	case "off":
		t.Off = true
		return nil
	case "ecs":
		if t.Limits == nil {
			t.Limits = map[string]Limit{}
		}
		return nil
	}
	name, value, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok {
		return fmt.Errorf("throttle %q: want off, ecs, or category=rate/burst, e.g. service-modify=5/50", s)
	}
	l, err := parseLimit(strings.TrimSpace(value))
	if err != nil {
		return fmt.Errorf("throttle %q: %v", s, err)
	}
	if name != "all" {
		if _, known := limitOf(name); !known {
			return fmt.Errorf("throttle %q: unknown category; known: all, %s", s, strings.Join(ThrottleGroups(), ", "))
		}
	}
	if t.Limits == nil {
		t.Limits = map[string]Limit{}
	}
	if name == "all" {
		for _, g := range throttleGroups {
			t.Limits[g.name] = l
		}
		return nil
	}
	t.Limits[name] = l
	return nil
}

func parseLimit(v string) (Limit, error) {
	if v == "0" {
		return Limit{}, nil
	}
	r, b, ok := strings.Cut(v, "/")
	perSecond, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || perSecond <= 0 || burst < 1 {
		return Limit{}, fmt.Errorf("want rate/burst (calls per second, a positive number, and the most at once, at least 1), or 0 for no limit")
	}
	return Limit{Rate: perSecond, Burst: burst}, nil
}

// String lists the settings, as Set reads them (flag.Value).
func (t *Throttling) String() string {
	if t == nil {
		return ""
	}
	var parts []string
	if t.Off {
		parts = append(parts, "off")
	}
	for name, l := range t.Limits {
		if l.Rate == 0 {
			parts = append(parts, name+"=0")
		} else {
			parts = append(parts, fmt.Sprintf("%s=%g/%d", name, l.Rate, l.Burst))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func limitOf(group string) (Limit, bool) {
	for _, g := range throttleGroups {
		if g.name == group {
			return g.limit, true
		}
	}
	return Limit{}, false
}

// throttler holds the buckets. A nil throttler lets everything through.
type throttler struct {
	limits map[string]Limit // by category; absent or Rate 0: unlimited
	now    func() time.Time

	mu      sync.Mutex
	buckets map[bucketKey]*rate.Limiter
}

type bucketKey struct{ account, region, group string }

// sweepAbove is how many buckets may be kept before the full ones are
// dropped: a full bucket is the same as a new one, so dropping it changes
// nothing but memory, which a caller signing for ever new Region names
// would otherwise grow without end.
const sweepAbove = 4096

func newThrottler(cfg Throttling) *throttler {
	if cfg.Off {
		return nil
	}
	t := &throttler{limits: map[string]Limit{}, now: time.Now, buckets: map[bucketKey]*rate.Limiter{}}
	for _, g := range throttleGroups {
		l := g.limit
		if o, ok := cfg.Limits[g.name]; ok {
			l = o
		}
		if l.Rate > 0 {
			t.limits[g.name] = l
		}
	}
	return t
}

// allow takes a token for op from the caller's bucket, or answers
// ThrottlingException. Calls without a verified caller (in-process ones)
// are not throttled.
func (t *throttler) allow(ctx context.Context, op string) error {
	if t == nil {
		return nil
	}
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return nil
	}
	group, known := groupOf[op]
	if !known {
		group = otherActions
	}
	l, limited := t.limits[group]
	if !limited {
		return nil
	}
	now := t.now()
	key := bucketKey{caller.AccountID, caller.Region, group}
	t.mu.Lock()
	b := t.buckets[key]
	if b == nil {
		if len(t.buckets) >= sweepAbove {
			t.sweep(now)
		}
		b = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
		t.buckets[key] = b
	}
	t.mu.Unlock()
	if !b.AllowN(now, 1) {
		return ecs.NewProtocolError(ecs.CodeThrottling, "Rate exceeded")
	}
	return nil
}

// sweep drops the buckets that are full again. Callers hold t.mu.
func (t *throttler) sweep(now time.Time) {
	for k, b := range t.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(t.buckets, k)
		}
	}
}
