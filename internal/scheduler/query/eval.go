package query

import (
	"strconv"
	"strings"
	"time"
)

// Instance is what an expression can ask of a container instance.
type Instance interface {
	Attribute(name string) (value string, ok bool)
	AgentConnected() bool
	AgentVersion() string
	EC2InstanceID() string
	RegisteredAt() time.Time
	RunningTasksCount() int
	TaskGroups() []string // the groups of the tasks on the instance
}

func (c *comparison) Match(i Instance) bool {
	switch {
	case strings.HasPrefix(c.subject, "attribute:"):
		v, ok := i.Attribute(strings.TrimPrefix(c.subject, "attribute:"))
		switch c.op {
		case "exists":
			return ok
		case "!exists":
			return !ok
		}
		// An instance without the attribute matches no comparison, not even
		// a negative one: ECS's != does not select instances that lack it.
		return ok && c.compare(v, compareValues)
	case c.subject == "task:group":
		groups := i.TaskGroups()
		if c.op == "!=" || c.op == "!in" || c.op == "!~" {
			// No task of the instance is in the group(s).
			positive := &comparison{subject: c.subject, op: map[string]string{"!=": "==", "!in": "in", "!~": "=~"}[c.op], args: c.args, re: c.re}
			for _, g := range groups {
				if positive.compare(g, compareValues) {
					return false
				}
			}
			return true
		}
		for _, g := range groups {
			if c.compare(g, compareValues) {
				return true
			}
		}
		return false
	case c.subject == "agentConnected":
		return c.compare(strconv.FormatBool(i.AgentConnected()), strings.EqualFold)
	case c.subject == "agentVersion":
		return c.compare(i.AgentVersion(), versionsEqual)
	case c.subject == "ec2InstanceId":
		return c.compare(i.EC2InstanceID(), compareValues)
	case c.subject == "runningTasksCount":
		return c.compare(strconv.Itoa(i.RunningTasksCount()), compareValues)
	case c.subject == "registeredAt":
		return c.compareTime(i.RegisteredAt())
	}
	return false
}

func compareValues(a, b string) bool { return a == b }

func versionsEqual(a, b string) bool { return compareVersions(a, b) == 0 }

// compare applies the operator to a value; eq decides equality for the
// subject (case-insensitive for booleans).
func (c *comparison) compare(v string, eq func(a, b string) bool) bool {
	switch c.op {
	case "==":
		return eq(v, c.args[0])
	case "!=":
		return !eq(v, c.args[0])
	case "in", "!in":
		in := false
		for _, a := range c.args {
			in = in || eq(v, a)
		}
		return in == (c.op == "in")
	case "=~":
		return c.re.MatchString(v)
	case "!~":
		return !c.re.MatchString(v)
	}
	order := compareOrdered(v, c.args[0], c.subject)
	switch c.op {
	case ">":
		return order > 0
	case ">=":
		return order >= 0
	case "<":
		return order < 0
	case "<=":
		return order <= 0
	}
	return false
}

// compareOrdered orders two values: as numbers when both are, as versions
// for agentVersion, else as strings.
func compareOrdered(a, b, subject string) int {
	if subject == "agentVersion" {
		return compareVersions(a, b)
	}
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// compareVersions orders dotted versions ("1.105.1" > "1.99.0").
func compareVersions(a, b string) int {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// The date formats registeredAt accepts, as ECS documents them.
var timeLayouts = []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02"}

func (c *comparison) compareTime(t time.Time) bool {
	var arg time.Time
	ok := false
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, c.args[0]); err == nil {
			arg, ok = v, true
			break
		}
	}
	if !ok {
		return false
	}
	switch c.op {
	case "==":
		return t.Equal(arg)
	case "!=":
		return !t.Equal(arg)
	case ">":
		return t.After(arg)
	case ">=":
		return !t.Before(arg)
	case "<":
		return t.Before(arg)
	case "<=":
		return !t.After(arg)
	}
	return false
}
