package ssm

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/berth-project/berth/api/ecs"
	api "github.com/berth-project/berth/api/ssm"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// GetParametersByPath answers the parameters under a path: its direct
// children, or with Recursive every level below it; at most MaxResults
// (default and most: 10) a page.
func (s *Service) GetParametersByPath(ctx context.Context, in *api.GetParametersByPathRequest) (*api.GetParametersByPathResult, error) {
	sc := scopeOf(ctx)
	if in.Path == nil {
		return nil, api.NewValidationException("1 validation error detected: Value null at 'path' failed to satisfy constraint: Member must not be null")
	}
	path, err := checkPath(*in.Path)
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(in.MaxResults, 10)
	if err != nil {
		return nil, err
	}
	keep, err := parseFilters(nil, in.ParameterFilters, false)
	if err != nil {
		return nil, err
	}
	recursive := ecs.Val(in.Recursive)
	under := func(name string) bool {
		if path == "/" {
			// The root holds the names without a hierarchy ("a") and the
			// first level of every one ("/a").
			return recursive || strings.Count(strings.TrimPrefix(name, "/"), "/") == 0
		}
		rest, ok := strings.CutPrefix(name, path)
		return ok && (recursive || !strings.Contains(rest, "/"))
	}
	prefix := sc.Prefix(state.KindParameter)
	if path != "/" {
		prefix += path
	}
	out := &api.GetParametersByPathResult{Parameters: []api.Parameter{}}
	page, next, err := s.page(sc, prefix, in.NextToken, limit, func(p *state.Parameter) bool { return under(p.Name) && keep(p) })
	if err != nil {
		return nil, err
	}
	for _, p := range page {
		wire, err := s.wireParameter(sc, p.Name, p.Latest(), ecs.Val(in.WithDecryption))
		if err != nil {
			return nil, err
		}
		out.Parameters = append(out.Parameters, *wire)
	}
	out.NextToken = next
	return out, nil
}

// DescribeParameters answers the metadata (never the values) of the
// parameters the filters keep, at most MaxResults (default and most: 50) a
// page.
func (s *Service) DescribeParameters(ctx context.Context, in *api.DescribeParametersRequest) (*api.DescribeParametersResult, error) {
	sc := scopeOf(ctx)
	limit, err := maxResults(in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 && len(in.ParameterFilters) > 0 {
		return nil, api.NewInvalidFilterKey("You can use either Filters or ParameterFilters in a single request.")
	}
	keep, err := parseFilters(in.Filters, in.ParameterFilters, true)
	if err != nil {
		return nil, err
	}
	if ecs.Val(in.Shared) {
		// Nothing is shared with an account in Berth (no AWS RAM).
		return &api.DescribeParametersResult{Parameters: []api.ParameterMetadata{}}, nil
	}
	page, next, err := s.page(sc, sc.Prefix(state.KindParameter), in.NextToken, limit, keep)
	if err != nil {
		return nil, err
	}
	out := &api.DescribeParametersResult{Parameters: []api.ParameterMetadata{}, NextToken: next}
	for _, p := range page {
		v := p.Latest()
		out.Parameters = append(out.Parameters, api.ParameterMetadata{Name: ecs.Ptr(p.Name), ARN: ecs.Ptr(sc.ParameterARN(p.Name)),
			Type: api.ParameterType(v.Type), KeyId: optional(v.KeyID), LastModifiedDate: ecs.NewTimestamp(v.LastModified),
			LastModifiedUser: ecs.Ptr(v.LastModifiedUser), Description: optional(v.Description), AllowedPattern: optional(v.AllowedPattern),
			Version: ecs.Ptr(v.Version), Tier: api.ParameterTier(v.Tier), Policies: []api.ParameterInlinePolicy{}, DataType: ecs.Ptr(v.DataType)})
	}
	return out, nil
}

// page walks the parameters under prefix in name order from the one after
// token, keeping up to limit that keep accepts. The token names the last
// parameter answered (opaque to clients), so a page boundary survives
// parameters created or deleted between calls.
func (s *Service) page(sc state.Scope, prefix string, token *string, limit int, keep func(*state.Parameter) bool) ([]*state.Parameter, *string, error) {
	after := ""
	if t := ecs.Val(token); t != "" {
		name, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(name) == 0 {
			return nil, nil, api.NewInvalidNextToken("The specified token isn't valid.")
		}
		after = sc.ParameterKey(string(name))
	}
	var page []*state.Parameter
	for _, o := range s.store().List(prefix, after, 0) {
		p, err := state.Decode[state.Parameter](s.records, o)
		if err != nil {
			return nil, nil, err
		}
		if !keep(p) {
			continue
		}
		if len(page) == limit {
			last := base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].Name))
			return page, &last, nil
		}
		page = append(page, p)
	}
	return page, nil, nil
}

// DeleteParameter deletes a parameter and all its versions.
func (s *Service) DeleteParameter(ctx context.Context, in *api.DeleteParameterRequest) (*api.DeleteParameterResult, error) {
	sc := scopeOf(ctx)
	if in.Name == nil {
		return nil, api.NewValidationException("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	err := s.update(ctx, func() ([]store.Op, error) {
		o, p, err := s.parameter(sc, *in.Name)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, api.NewParameterNotFound("Parameter %s not found.", *in.Name)
		}
		return []store.Op{store.Delete(o.Key, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &api.DeleteParameterResult{}, nil
}

// DeleteParameters deletes up to 10 parameters in one transaction; names
// that are not parameters are listed in InvalidParameters.
func (s *Service) DeleteParameters(ctx context.Context, in *api.DeleteParametersRequest) (*api.DeleteParametersResult, error) {
	sc := scopeOf(ctx)
	if err := checkNameList(in.Names); err != nil {
		return nil, err
	}
	var out *api.DeleteParametersResult
	err := s.update(ctx, func() ([]store.Op, error) {
		out = &api.DeleteParametersResult{DeletedParameters: []string{}, InvalidParameters: []string{}}
		var ops []store.Op
		seen := map[string]bool{}
		for _, name := range in.Names {
			if seen[name] {
				continue
			}
			seen[name] = true
			o, p, err := s.parameter(sc, name)
			if err != nil {
				return nil, err
			}
			if p == nil {
				out.InvalidParameters = append(out.InvalidParameters, name)
				continue
			}
			out.DeletedParameters = append(out.DeletedParameters, name)
			ops = append(ops, store.Delete(o.Key, o.Rev))
		}
		return ops, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
