package server

import (
	"strings"

	"github.com/berth-project/berth/api/ecs"
)

// A small subset of ECS's cluster query language, for the filter of
// ListContainerInstances until the full parser arrives:
//
//	attribute:NAME == VALUE     (or equals)
//	attribute:NAME != VALUE     (or not_equals)
//	attribute:NAME exists
//
// joined with and (&&) / or (||), and binding tighter than or. Anything
// else is refused by name rather than silently matching the wrong set.

// instanceFilter is a parsed filter: a disjunction of conjunctions.
type instanceFilter [][]attrCondition

type attrCondition struct {
	name, op, value string // op is "==", "!=" or "exists"
}

func unsupportedFilter(part string) error {
	return ecs.NewInvalidParameterException("The filter expression is not supported: %q. Supported are attribute:NAME == VALUE, attribute:NAME != VALUE and attribute:NAME exists, joined with and/or.", part)
}

// parseInstanceFilter parses a filter; an empty one matches everything.
func parseInstanceFilter(expr string) (instanceFilter, error) {
	tokens := strings.Fields(expr)
	if len(tokens) == 0 {
		return nil, nil
	}
	var out instanceFilter
	var conj []attrCondition
	for i := 0; ; {
		if i >= len(tokens) {
			return nil, unsupportedFilter(expr)
		}
		subject := tokens[i]
		name, ok := strings.CutPrefix(subject, "attribute:")
		if !ok || name == "" {
			return nil, unsupportedFilter(subject)
		}
		if i+1 >= len(tokens) {
			return nil, unsupportedFilter(subject)
		}
		c := attrCondition{name: name}
		switch op := tokens[i+1]; op {
		case "exists":
			c.op = "exists"
			i += 2
		case "==", "equals", "!=", "not_equals":
			if i+2 >= len(tokens) {
				return nil, unsupportedFilter(subject + " " + op)
			}
			c.op, c.value = "==", tokens[i+2]
			if op == "!=" || op == "not_equals" {
				c.op = "!="
			}
			i += 3
		default:
			return nil, unsupportedFilter(subject + " " + op)
		}
		conj = append(conj, c)
		if i == len(tokens) {
			return append(out, conj), nil
		}
		switch strings.ToLower(tokens[i]) {
		case "and", "&&":
		case "or", "||":
			out = append(out, conj)
			conj = nil
		default:
			return nil, unsupportedFilter(tokens[i])
		}
		i++
	}
}

// matches reports whether an instance with these attributes passes.
func (f instanceFilter) matches(attrs []ecs.Attribute) bool {
	if f == nil {
		return true
	}
	for _, conj := range f {
		all := true
		for _, c := range conj {
			if !c.holds(attrs) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// holds evaluates one condition. As in ECS, != only matches instances that
// have the attribute with another value: an instance without it matches
// neither == nor !=.
func (c attrCondition) holds(attrs []ecs.Attribute) bool {
	for _, a := range attrs {
		if ecs.Val(a.Name) != c.name {
			continue
		}
		switch c.op {
		case "exists":
			return true
		case "==":
			return ecs.Val(a.Value) == c.value
		default:
			return ecs.Val(a.Value) != c.value
		}
	}
	return false
}
