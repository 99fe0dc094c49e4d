package query

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeInstance struct {
	attrs     map[string]string
	connected bool
	version   string
	ec2       string
	at        time.Time
	running   int
	groups    []string
}

func (f fakeInstance) Attribute(n string) (string, bool) { v, ok := f.attrs[n]; return v, ok }
func (f fakeInstance) AgentConnected() bool              { return f.connected }
func (f fakeInstance) AgentVersion() string              { return f.version }
func (f fakeInstance) EC2InstanceID() string             { return f.ec2 }
func (f fakeInstance) RegisteredAt() time.Time           { return f.at }
func (f fakeInstance) RunningTasksCount() int            { return f.running }
func (f fakeInstance) TaskGroups() []string              { return f.groups }

var small = fakeInstance{
	attrs:     map[string]string{"ecs.instance-type": "t2.small", "ecs.availability-zone": "us-east-1a", "ecs.os-type": "linux", "stack": "prod", "cores": "4"},
	connected: true, version: "1.105.1", ec2: "i-abcd1234", at: time.Date(2018, 6, 18, 22, 28, 28, 0, time.UTC), running: 1,
	groups: []string{"service:web", "family:batch"},
}

func TestMatch(t *testing.T) {
	cases := map[string]bool{
		"attribute:ecs.instance-type == t2.small":                                      true,
		"attribute:ecs.instance-type equals t2.medium":                                 false,
		"attribute:ecs.instance-type =~ t2.*":                                          true,
		"attribute:ecs.instance-type matches 'g2.*'":                                   false,
		"attribute:ecs.instance-type !~ g2.*":                                          true,
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]":                  true,
		"attribute:ecs.availability-zone !in [us-east-1a, us-east-1b]":                 false,
		"attribute:ecs.availability-zone not_in ('us-east-1c')":                        true,
		"attribute:stack exists":                                                       true,
		"attribute:gpu exists":                                                         false,
		"attribute:gpu !exists":                                                        true,
		"attribute:gpu not_exists":                                                     true,
		"attribute:gpu != yes":                                                         false, // no attribute: no match, even for !=
		"attribute:cores > 2":                                                          true,
		"attribute:cores <= 3":                                                         false,
		"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']":                                true,
		"ec2InstanceId == i-other":                                                     false,
		"agentConnected == true":                                                       true,
		"agentConnected != TRUE":                                                       false,
		"agentVersion >= 1.99.0":                                                       true,
		"agentVersion < 1.9":                                                           false,
		"registeredAt < 2018-07-01":                                                    true,
		"registeredAt > 2018-06-18T22:28:28Z":                                          false,
		"registeredAt == 2018-06-18T22:28:28+00:00":                                    true,
		"runningTasksCount == 1":                                                       true,
		"runningTasksCount greater_than 1":                                             false,
		"task:group == service:web":                                                    true,
		"task:group != service:web":                                                    false,
		"task:group == database":                                                       false,
		"not(task:group == database)":                                                  true,
		"!(task:group == database)":                                                    true,
		"task:group =~ family:.*":                                                      true,
		"attribute:ecs.os-type == linux and attribute:ecs.instance-type =~ t2.*":       true,
		"attribute:ecs.os-type == windows or attribute:stack == prod":                  true,
		"attribute:ecs.os-type == windows || attribute:stack == dev":                   false,
		"attribute:stack == prod && (runningTasksCount > 5 or agentConnected == true)": true,
		"not attribute:stack == prod and runningTasksCount == 1":                       false, // not binds tighter than and
		"attribute:stack == dev or attribute:stack == prod and runningTasksCount == 9": false, // and binds tighter than or
	}
	for expr, want := range cases {
		e, err := Parse(expr)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		if got := e.Match(small); got != want {
			t.Errorf("%q on %v: got %v, want %v (parsed as %s)", expr, small.attrs, got, want, e)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"attribute:stack", 15, "expected an operator after \"attribute:stack\" but found \"\""},
		{"attribute:stack ==", 18, "expected a value"},
		{"attribute:stack in prod", 19, "expected '['"},
		{"attribute:stack in [a, b", 24, "expected ',' or the end of the list"},
		{"(attribute:stack == a", 21, "expected ')'"},
		{"attribute:stack == a b", 21, `unexpected "b"`},
		{"colour == red", 0, `unknown subject "colour"`},
		{"runningTasksCount exists", 18, `cannot be used with "runningTasksCount"`},
		{"runningTasksCount > lots", 18, "is not a number"},
		{"registeredAt < yesterday", 13, "is not a date"},
		{"attribute:x =~ [", 15, "expected a value"},
		{"attribute:x =~ '('", 12, "invalid regular expression"},
		{"attribute:x == 'open", 15, "unterminated quoted value"},
		{"attribute:x ~ y", 12, "unknown operator"},
		{"", 0, "expected a subject"},
		{"attribute:a == b and", 20, "expected a subject"},
	}
	for _, tc := range cases {
		_, err := Parse(tc.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: want a syntax error, got %v", tc.expr, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("%q: got %q at %d, want %q at %d", tc.expr, se.Msg, se.Pos, tc.msg, tc.pos)
		}
	}
}

// The grammar, driven: every subject with every operator it accepts parses,
// and every other pairing is refused.
func TestGrammarTable(t *testing.T) {
	value := map[string]string{"registeredAt": "2018-06-18", "runningTasksCount": "1", "agentConnected": "true", "agentVersion": "1.2.3"}
	allSubjects := []string{"attribute:x"}
	for s := range subjects {
		allSubjects = append(allSubjects, s)
	}
	for _, s := range allSubjects {
		allowed := subjects[s]
		if s == "attribute:x" {
			allowed = attributeOps
		}
		for spelled, op := range operators {
			arg := " " + value[s]
			if value[s] == "" {
				arg = " v"
			}
			switch op {
			case "exists", "!exists":
				arg = ""
			case "in", "!in":
				arg = " [" + strings.TrimSpace(arg) + "]"
			}
			expr := s + " " + spelled + arg
			if strings.HasPrefix(spelled, "!") && spelled != "!=" && spelled != "!~" {
				expr = s + " !" + spelled[1:] + arg
			}
			_, err := Parse(expr)
			if contains(allowed, op) && err != nil {
				t.Errorf("%q: %v", expr, err)
			}
			if !contains(allowed, op) && err == nil {
				t.Errorf("%q parsed, but %s does not take %s", expr, s, op)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"attribute:a == b", "not(task:group in [x, 'y']) or runningTasksCount >= 2", "attribute:x =~ a.*", "((", "!", "registeredAt < 2018-01-01"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("%q: error %v is not a syntax error with a position inside the expression", s, err)
			}
			return
		}
		e.Match(small)
		// What String prints parses again to the same tree.
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("%q printed as %q, which parses as %v (%v)", s, e.String(), again, err)
		}
	})
}
