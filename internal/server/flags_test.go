package server

import (
	"flag"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// --quota and --throttle are read by Quotas and Throttling themselves
// (flag.Value), so `berth server` and `berth dev` take the same values.
func TestQuotaAndThrottleFlags(t *testing.T) {
	parse := func(args ...string) (Quotas, Throttling, error) {
		var q Quotas
		var th Throttling
		fs := flag.NewFlagSet("berth server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Var(&q, "quota", "")
		fs.Var(&th, "throttle", "")
		err := fs.Parse(args)
		return q, th, err
	}
	t.Run("quotas given are set and the others keep ECS's defaults", func(t *testing.T) {
		q, _, err := parse("--quota", "services-per-cluster=100", "--quota", "tasks-per-service=50")
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultQuotas
		want.ServicesPerCluster, want.TasksPerService = 100, 50
		if got := q.withDefaults(); got != want {
			t.Fatalf("quotas %+v, want %+v", got, want)
		}
	})
	t.Run("categories given are set, all sets every one, and off turns throttling off", func(t *testing.T) {
		_, th, err := parse("--throttle", "all=100/200", "--throttle", "agent=0", "--throttle", "run-task=1/2")
		if err == nil {
			t.Fatal("an unknown category is accepted")
		}
		_, th, err = parse("--throttle", "all=100/200", "--throttle", "agent=0")
		if err != nil {
			t.Fatal(err)
		}
		tr := newThrottler(th)
		if _, limited := tr.limits["agent"]; limited || tr.limits["cluster-modify"] != (Limit{Rate: 100, Burst: 200}) {
			t.Fatalf("limits %+v", tr.limits)
		}
		if _, th, _ = parse("--throttle", "off"); newThrottler(th) != nil {
			t.Fatal("--throttle off throttles")
		}
		if tr := newThrottler(Throttling{}); !reflect.DeepEqual(tr.limits["service-modify"], Limit{Rate: 5, Burst: 50}) {
			t.Fatalf("ECS's service-modify limit is 5/50, got %+v", tr.limits["service-modify"])
		}
	})
	for _, bad := range [][]string{
		{"--quota", "services-per-cluster"}, {"--quota", "services-per-cluster=0"}, {"--quota", "pods=3"},
		{"--throttle", "agent=fast"}, {"--throttle", "agent=1/0"}, {"--throttle", "agent"},
	} {
		if _, _, err := parse(bad...); err == nil {
			t.Errorf("%v is accepted", bad)
		}
	}
}

// docs/compatibility.md's tables of quotas and throttling categories say
// what the code does: every name, default, action, burst and rate.
func TestQuotaAndThrottleDocsAreTrue(t *testing.T) {
	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	quotaRow := regexp.MustCompile("(?m)^\\| `([a-z-]+)` [^|]*\\| ([0-9,]+) \\|")
	documented := map[string]string{}
	for _, m := range quotaRow.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = strings.ReplaceAll(m[2], ",", "")
	}
	def := DefaultQuotas
	for _, f := range quotaFlags {
		if got, want := documented[f.name], strconv.Itoa(*f.field(&def)); got != want {
			t.Errorf("quota %s: the docs say %q, the code %s", f.name, got, want)
		}
	}
	groupRow := regexp.MustCompile("(?m)^\\| `([a-z-]+)`\\*? \\| ([^|]+) \\| ([0-9]+) \\| ([0-9]+) \\|$")
	rows := map[string][]string{}
	for _, m := range groupRow.FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = m[2:]
	}
	for _, g := range throttleGroups {
		r, ok := rows[g.name]
		if !ok {
			t.Errorf("throttling category %s is not in the docs", g.name)
			continue
		}
		if r[1] != strconv.Itoa(g.limit.Burst) || r[2] != strconv.FormatFloat(g.limit.Rate, 'g', -1, 64) {
			t.Errorf("category %s: the docs say %s/%s, the code burst %d, rate %g", g.name, r[1], r[2], g.limit.Burst, g.limit.Rate)
		}
		for _, a := range g.actions {
			if !regexp.MustCompile(`\b` + a + `\b`).MatchString(r[0]) {
				t.Errorf("category %s: the docs do not list %s", g.name, a)
			}
		}
	}
}
