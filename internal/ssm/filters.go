package ssm

import (
	"strings"

	api "github.com/berth-project/berth/api/ssm"
	"github.com/berth-project/berth/internal/state"
)

// parseFilters turns DescribeParameters' Filters and ParameterFilters (and
// GetParametersByPath's ParameterFilters, where withPath is false: the path
// is the call's own) into one predicate. Every filter must hold. Berth has no
// labels, so a Label filter keeps nothing.
func parseFilters(old []api.ParametersFilter, filters []api.ParameterStringFilter, withPath bool) (func(*state.Parameter) bool, error) {
	var keeps []func(*state.Parameter) bool
	for _, f := range old {
		values := f.Values
		switch f.Key {
		case api.ParametersFilterKeyName:
			keeps = append(keeps, func(p *state.Parameter) bool {
				return anyOf(values, func(v string) bool { return strings.HasPrefix(p.Name, v) })
			})
		case api.ParametersFilterKeyType:
			keeps = append(keeps, func(p *state.Parameter) bool { return anyOf(values, eq(p.Latest().Type)) })
		case api.ParametersFilterKeyKeyId:
			keeps = append(keeps, func(p *state.Parameter) bool { return anyOf(values, eq(p.Latest().KeyID)) })
		default:
			return nil, api.NewInvalidFilterKey("The filter key %s is not valid.", f.Key)
		}
	}
	for _, f := range filters {
		key, option, values := deref(f.Key), deref(f.Option), f.Values
		if option == "" {
			option = "Equals"
		}
		field := map[string]func(*state.Parameter) string{
			"Name":     func(p *state.Parameter) string { return p.Name },
			"Type":     func(p *state.Parameter) string { return p.Latest().Type },
			"KeyId":    func(p *state.Parameter) string { return p.Latest().KeyID },
			"Tier":     func(p *state.Parameter) string { return p.Latest().Tier },
			"DataType": func(p *state.Parameter) string { return p.Latest().DataType },
		}[key]
		switch {
		case key == "Label":
			keeps = append(keeps, func(*state.Parameter) bool { return false })
		case key == "Path" && withPath:
			if option != "Recursive" && option != "OneLevel" {
				return nil, api.NewInvalidFilterOption("The filter option %s is not valid for key Path. Valid options are Recursive and OneLevel.", option)
			}
			recursive := option == "Recursive"
			keeps = append(keeps, func(p *state.Parameter) bool {
				return anyOf(values, func(v string) bool {
					prefix := strings.TrimSuffix(v, "/") + "/"
					rest, ok := strings.CutPrefix(p.Name, prefix)
					if v == "/" {
						rest, ok = strings.TrimPrefix(p.Name, "/"), true
					}
					return ok && (recursive || !strings.Contains(rest, "/"))
				})
			})
		case field != nil:
			match, err := matcher(key, option)
			if err != nil {
				return nil, err
			}
			keeps = append(keeps, func(p *state.Parameter) bool {
				got := field(p)
				return anyOf(values, func(v string) bool { return match(got, v) })
			})
		default:
			return nil, api.NewInvalidFilterKey("The filter key %s is not valid.", key)
		}
	}
	return func(p *state.Parameter) bool {
		for _, keep := range keeps {
			if !keep(p) {
				return false
			}
		}
		return true
	}, nil
}

func matcher(key, option string) (func(got, want string) bool, error) {
	switch {
	case option == "Equals":
		return func(got, want string) bool { return got == want }, nil
	case option == "BeginsWith" && (key == "Name" || key == "KeyId"):
		return strings.HasPrefix, nil
	case option == "Contains" && key == "Name":
		return strings.Contains, nil
	}
	return nil, api.NewInvalidFilterOption("The filter option %s is not valid for key %s.", option, key)
}

func anyOf(values []string, ok func(string) bool) bool {
	for _, v := range values {
		if ok(v) {
			return true
		}
	}
	return false
}

func eq(got string) func(string) bool { return func(v string) bool { return v == got } }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
