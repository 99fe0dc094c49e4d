package ssm

import (
	"context"
	"strconv"
	"strings"

	"github.com/berth-project/berth/api/ecs"
	api "github.com/berth-project/berth/api/ssm"
	"github.com/berth-project/berth/internal/state"
)

// GetParameter answers one parameter's latest value, or with a
// "name:version" selector that version's.
func (s *Service) GetParameter(ctx context.Context, in *api.GetParameterRequest) (*api.GetParameterResult, error) {
	sc := scopeOf(ctx)
	if in.Name == nil {
		return nil, api.NewValidationException("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	p, err := s.selected(sc, *in.Name, ecs.Val(in.WithDecryption))
	if err != nil {
		return nil, err
	}
	if p == nil {
		// SSM's ParameterNotFound for GetParameter carries no message.
		return nil, api.NewParameterNotFound("")
	}
	return &api.GetParameterResult{Parameter: p}, nil
}

// GetParameters answers up to 10 parameters; names that select nothing are
// listed in InvalidParameters rather than failing the call.
func (s *Service) GetParameters(ctx context.Context, in *api.GetParametersRequest) (*api.GetParametersResult, error) {
	sc := scopeOf(ctx)
	if err := checkNameList(in.Names); err != nil {
		return nil, err
	}
	out := &api.GetParametersResult{Parameters: []api.Parameter{}, InvalidParameters: []string{}}
	seen := map[string]bool{}
	for _, ref := range in.Names {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		p, err := s.selected(sc, ref, ecs.Val(in.WithDecryption))
		var notFound *api.Error
		if err != nil && !(asAPIError(err, &notFound) && notFound.Code == api.CodeParameterVersionNotFound) {
			return nil, err
		}
		if p == nil {
			out.InvalidParameters = append(out.InvalidParameters, ref)
			continue
		}
		out.Parameters = append(out.Parameters, *p)
	}
	return out, nil
}

func checkNameList(names []string) error {
	if len(names) == 0 {
		return api.NewValidationException("1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null")
	}
	if len(names) > 10 {
		return api.NewValidationException("1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10", strings.Join(names, ", "))
	}
	for _, n := range names {
		if n == "" || len(n) > maxNameLength {
			return api.NewValidationException("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1]")
		}
	}
	return nil
}

// selected resolves "name" or "name:version" to the wire parameter; nil
// when the name selects nothing. Berth has no labels
// (LabelParameterVersion is not served), so a label selects nothing.
func (s *Service) selected(sc state.Scope, ref string, decrypt bool) (*api.Parameter, error) {
	name, selector, hasSelector := cutSelector(sc, ref)
	var p *state.Parameter
	for _, candidate := range candidates(sc, name) {
		_, found, err := s.parameter(sc, candidate)
		if err != nil {
			return nil, err
		}
		if found != nil {
			p, name = found, candidate
			break
		}
	}
	if p == nil {
		return nil, nil
	}
	v := p.Latest()
	if hasSelector {
		n, err := strconv.ParseInt(selector, 10, 64)
		if err != nil {
			return nil, nil
		}
		v = nil
		for i := range p.Versions {
			if p.Versions[i].Version == n {
				v = &p.Versions[i]
			}
		}
		if v == nil {
			return nil, api.NewParameterVersionNotFound("Systems Manager could not find version %d of %s. Verify the version and try again.", n, name)
		}
	}
	out, err := s.wireParameter(sc, p.Name, v, decrypt)
	if err != nil {
		return nil, err
	}
	if hasSelector {
		out.Selector = ecs.Ptr(":" + selector)
	}
	return out, nil
}

// cutSelector splits "name:version" (or "ARN:version"); names have no ":",
// ARNs of the caller's scope do.
func cutSelector(sc state.Scope, ref string) (name, selector string, hasSelector bool) {
	if arnPrefix := sc.ParameterARN(""); strings.HasPrefix(ref, arnPrefix) {
		name, selector, hasSelector = strings.Cut(ref[len(arnPrefix):], ":")
		return arnPrefix + name, selector, hasSelector
	}
	return strings.Cut(ref, ":")
}

// candidates are the names ref may stand for: itself, or for an ARN of the
// caller's scope (as task definitions' secrets name parameters), the name
// it was made from. An ARN drops a name's leading slash, so "parameter/a"
// is "/a" or "a", tried in that order; a deeper one is "/a/b" only. An ARN
// of another account or region names nothing here.
func candidates(sc state.Scope, ref string) []string {
	rest, ok := strings.CutPrefix(ref, sc.ParameterARN(""))
	switch {
	case !ok:
		if strings.HasPrefix(ref, "arn:") {
			return nil
		}
		return []string{ref}
	case strings.Contains(rest, "/"):
		return []string{"/" + rest}
	}
	return []string{"/" + rest, rest}
}

// answerValue is the value a version is answered with: in the clear, except
// a SecureString asked for without WithDecryption, which is answered as
// ciphertext as SSM answers it (Berth's sealed bytes, in base64, in place of
// a KMS blob: they open only with Berth's key).
func (s *Service) answerValue(sc state.Scope, name string, v *state.ParameterVersion, decrypt bool) (string, error) {
	if v.Type == string(api.ParameterTypeSecureString) && !decrypt {
		_, ciphertext, _ := strings.Cut(v.Sealed, ":")
		return ciphertext, nil
	}
	return s.value(sc, name, v)
}

func (s *Service) wireParameter(sc state.Scope, name string, v *state.ParameterVersion, decrypt bool) (*api.Parameter, error) {
	value, err := s.answerValue(sc, name, v, decrypt)
	if err != nil {
		return nil, err
	}
	return &api.Parameter{Name: ecs.Ptr(name), Type: api.ParameterType(v.Type), Value: ecs.Ptr(value), Version: ecs.Ptr(v.Version),
		LastModifiedDate: ecs.NewTimestamp(v.LastModified), ARN: ecs.Ptr(sc.ParameterARN(name)), DataType: ecs.Ptr(v.DataType)}, nil
}

// GetParameterHistory answers every kept version of a parameter, oldest
// first, up to MaxResults (default and most: 50) a page.
func (s *Service) GetParameterHistory(ctx context.Context, in *api.GetParameterHistoryRequest) (*api.GetParameterHistoryResult, error) {
	sc := scopeOf(ctx)
	if in.Name == nil {
		return nil, api.NewValidationException("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	limit, err := maxResults(in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	_, p, err := s.parameter(sc, *in.Name)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, api.NewParameterNotFound("Parameter %s not found.", *in.Name)
	}
	start := 0
	if tok := ecs.Val(in.NextToken); tok != "" {
		if start, err = strconv.Atoi(tok); err != nil || start < 0 || start > len(p.Versions) {
			return nil, api.NewInvalidNextToken("The specified token isn't valid.")
		}
	}
	out := &api.GetParameterHistoryResult{Parameters: []api.ParameterHistory{}}
	end := min(start+limit, len(p.Versions))
	for i := start; i < end; i++ {
		v := &p.Versions[i]
		value, err := s.answerValue(sc, p.Name, v, ecs.Val(in.WithDecryption))
		if err != nil {
			return nil, err
		}
		h := api.ParameterHistory{Name: ecs.Ptr(p.Name), Type: api.ParameterType(v.Type), LastModifiedDate: ecs.NewTimestamp(v.LastModified),
			LastModifiedUser: ecs.Ptr(v.LastModifiedUser), Value: ecs.Ptr(value), Version: ecs.Ptr(v.Version), Labels: []string{},
			Tier: api.ParameterTier(v.Tier), Policies: []api.ParameterInlinePolicy{}, DataType: ecs.Ptr(v.DataType)}
		h.KeyId = optional(v.KeyID)
		h.Description = optional(v.Description)
		h.AllowedPattern = optional(v.AllowedPattern)
		out.Parameters = append(out.Parameters, h)
	}
	if end < len(p.Versions) {
		out.NextToken = ecs.Ptr(strconv.Itoa(end))
	}
	return out, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// maxResults reads a page size between 1 and most, most when absent.
func maxResults(n *int32, most int) (int, error) {
	if n == nil {
		return most, nil
	}
	if *n < 1 {
		return 0, api.NewValidationException("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1", *n)
	}
	if int(*n) > most {
		return 0, api.NewValidationException("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", *n, most)
	}
	return int(*n), nil
}
