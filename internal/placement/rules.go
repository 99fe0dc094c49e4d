package placement

import (
	"strings"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/scheduler/query"
)

// ECS's limits on one task's placement rules.
const (
	maxPlacementConstraints = 10 // the task definition's and the call's together
	// ECS documents 2000 characters for a placement constraint's
	// expression; it documents no limit for ListContainerInstances' filter,
	// which is the same language, so Berth uses the same.
	maxExpressionLength = 2000
)

// placementRules checks and converts the constraints of the task
// definition and of the call, and the call's strategies, as ECS does.
func Rules(td *ecs.TaskDefinition, constraints []ecs.PlacementConstraint, strategies []ecs.PlacementStrategy) ([]scheduler.Constraint, []scheduler.Strategy, error) {
	all := make([]ecs.PlacementConstraint, 0, len(td.PlacementConstraints)+len(constraints))
	for _, c := range td.PlacementConstraints {
		all = append(all, ecs.PlacementConstraint{Type: ecs.PlacementConstraintType(c.Type), Expression: c.Expression})
	}
	all = append(all, constraints...)
	if len(all) > maxPlacementConstraints {
		return nil, nil, ecs.NewInvalidParameterException("The number of placement constraints (%d) exceeds the limit of %d, counting those of the task definition.", len(all), maxPlacementConstraints)
	}
	var out []scheduler.Constraint
	for _, c := range all {
		switch c.Type {
		case ecs.PlacementConstraintTypeDistinctInstance:
			if ecs.Val(c.Expression) != "" {
				return nil, nil, ecs.NewInvalidParameterException("An expression cannot be specified for the distinctInstance placement constraint.")
			}
			out = append(out, scheduler.Constraint{Type: scheduler.DistinctInstance})
		case ecs.PlacementConstraintTypeMemberOf:
			expr := ecs.Val(c.Expression)
			if strings.TrimSpace(expr) == "" {
				return nil, nil, ecs.NewInvalidParameterException("An expression is required for the memberOf placement constraint.")
			}
			if len(expr) > maxExpressionLength {
				return nil, nil, ecs.NewInvalidParameterException("The placement constraint expression is longer than %d characters.", maxExpressionLength)
			}
			e, err := ParseFilter(expr)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, scheduler.Constraint{Type: scheduler.MemberOf, Expr: e})
		default:
			return nil, nil, ecs.NewInvalidParameterException("Invalid placement constraint type: %s.", c.Type)
		}
	}
	if len(strategies) > scheduler.MaxStrategies {
		return nil, nil, ecs.NewInvalidParameterException("The number of placement strategies (%d) exceeds the limit of %d.", len(strategies), scheduler.MaxStrategies)
	}
	var strat []scheduler.Strategy
	for _, p := range strategies {
		st := scheduler.Strategy{Type: scheduler.StrategyType(p.Type), Field: ecs.Val(p.Field)}
		if err := scheduler.CheckStrategy(st); err != nil {
			return nil, nil, ecs.NewInvalidParameterException("%s", err.Error())
		}
		strat = append(strat, st)
	}
	return out, strat, nil
}

// parseFilter parses a cluster query (ListContainerInstances' filter, a
// memberOf constraint); a syntax error is ECS's InvalidParameterException,
// saying where. An expression over maxExpressionLength is refused before
// it is parsed.
func ParseFilter(expr string) (query.Expr, error) {
	if len(expr) > maxExpressionLength {
		return nil, ecs.NewInvalidParameterException("The filter expression is longer than %d characters.", maxExpressionLength)
	}
	e, err := query.Parse(expr)
	if err != nil {
		return nil, ecs.NewInvalidParameterException("Invalid filter expression %q: %v.", expr, err)
	}
	return e, nil
}
