package server

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Account settings as ECS keeps them: per region, per principal. The root
// user's setting is the account default (PutAccountSettingDefault and a
// PutAccountSetting by or for the root change the same value); an IAM user
// or role may override it. The effective value for a principal is its own,
// else the account default, else ECS's built-in default.

// settingRule is what ECS accepts for a setting and what it is when unset.
type settingRule struct {
	values  []string
	builtIn string
}

var settingRules = map[ecs.SettingName]settingRule{
	ecs.SettingNameServiceLongArnFormat:            {[]string{"enabled", "disabled"}, "enabled"},
	ecs.SettingNameTaskLongArnFormat:               {[]string{"enabled", "disabled"}, "enabled"},
	ecs.SettingNameContainerInstanceLongArnFormat:  {[]string{"enabled", "disabled"}, "enabled"},
	ecs.SettingNameAwsvpcTrunking:                  {[]string{"enabled", "disabled"}, "disabled"},
	ecs.SettingNameContainerInsights:               {[]string{"enabled", "disabled", "enhanced"}, "disabled"},
	ecs.SettingNameFargateFIPSMode:                 {[]string{"enabled", "disabled"}, "disabled"},
	ecs.SettingNameTagResourceAuthorization:        {[]string{"on", "off"}, "on"},
	ecs.SettingNameFargateTaskRetirementWaitPeriod: {[]string{"0", "7", "14"}, "7"},
	ecs.SettingNameGuardDutyActivate:               {[]string{"enabled", "disabled"}, "disabled"},
	ecs.SettingNameDefaultLogDriverMode:            {[]string{"blocking", "non-blocking"}, "non-blocking"},
	ecs.SettingNameFargateEventWindows:             {[]string{"enabled", "disabled"}, "disabled"},
}

var iamPrincipalPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):(root|user/.+|role/.+)$`)

func rootPrincipal(sc state.Scope) string { return "arn:aws:iam::" + sc.Account + ":root" }

// principalOf checks a principalArn parameter; empty means the caller,
// which in Berth is always the account root.
func principalOf(sc state.Scope, arn *string) (string, error) {
	p := ecs.Val(arn)
	if p == "" {
		return rootPrincipal(sc), nil
	}
	m := iamPrincipalPattern.FindStringSubmatch(p)
	if m == nil || m[1] != sc.Account {
		return "", ecs.NewInvalidParameterException("Invalid principal ARN: %s. Specify the ARN of an IAM user, role or the root user of this account.", p)
	}
	return p, nil
}

func checkSetting(name ecs.SettingName, value string) error {
	rule := settingRules[name]
	if !slices.Contains(rule.values, value) {
		return ecs.NewInvalidParameterException("Invalid value %q for account setting %s. Valid values are: %s.", value, string(name), strings.Join(rule.values, ", "))
	}
	return nil
}

// putSetting stores one explicit value and answers it as ECS does.
func (s *Server) putSetting(ctx context.Context, principal string, name ecs.SettingName, value string) (*ecs.Setting, error) {
	if err := checkSetting(name, value); err != nil {
		return nil, err
	}
	sc := scopeOf(ctx)
	key := sc.SettingKey(principal, name)
	rec := &state.AccountSetting{Schema: 1, Name: string(name), Value: value, Principal: principal}
	err := s.update(ctx, func() ([]store.Op, error) {
		if o, found := s.store.Get(key); found {
			return []store.Op{store.Put(key, rec, o.Rev)}, nil
		}
		return []store.Op{store.Create(key, rec)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.Setting{Name: name, Value: ecs.Ptr(value), PrincipalArn: ecs.Ptr(principal), Type: ecs.SettingTypeUser}, nil
}

func (s *Server) PutAccountSetting(ctx context.Context, in *ecs.PutAccountSettingRequest) (*ecs.PutAccountSettingResponse, error) {
	principal, err := principalOf(scopeOf(ctx), in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	st, err := s.putSetting(ctx, principal, in.Name, ecs.Val(in.Value))
	if err != nil {
		return nil, err
	}
	return &ecs.PutAccountSettingResponse{Setting: st}, nil
}

func (s *Server) PutAccountSettingDefault(ctx context.Context, in *ecs.PutAccountSettingDefaultRequest) (*ecs.PutAccountSettingDefaultResponse, error) {
	st, err := s.putSetting(ctx, rootPrincipal(scopeOf(ctx)), in.Name, ecs.Val(in.Value))
	if err != nil {
		return nil, err
	}
	return &ecs.PutAccountSettingDefaultResponse{Setting: st}, nil
}

func (s *Server) DeleteAccountSetting(ctx context.Context, in *ecs.DeleteAccountSettingRequest) (*ecs.DeleteAccountSettingResponse, error) {
	sc := scopeOf(ctx)
	principal, err := principalOf(sc, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	key := sc.SettingKey(principal, in.Name)
	var deleted *state.AccountSetting
	err = s.update(ctx, func() ([]store.Op, error) {
		o, found := s.store.Get(key)
		if !found {
			return nil, ecs.NewInvalidParameterException("The %s account setting is not set for %s.", string(in.Name), principal)
		}
		rec, err := decode[state.AccountSetting](s, o)
		if err != nil {
			return nil, err
		}
		deleted = rec
		return []store.Op{store.Delete(key, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.DeleteAccountSettingResponse{Setting: &ecs.Setting{
		Name: in.Name, Value: ecs.Ptr(deleted.Value), PrincipalArn: ecs.Ptr(principal), Type: ecs.SettingTypeUser,
	}}, nil
}

// explicitSetting reads a principal's own value of a setting.
func (s *Server) explicitSetting(sc state.Scope, principal string, name ecs.SettingName) (*ecs.Setting, bool) {
	o, found := s.store.Get(sc.SettingKey(principal, name))
	if !found {
		return nil, false
	}
	rec, err := decode[state.AccountSetting](s, o)
	if err != nil {
		return nil, false
	}
	return &ecs.Setting{Name: name, Value: ecs.Ptr(rec.Value), PrincipalArn: ecs.Ptr(principal), Type: ecs.SettingTypeUser}, true
}

// accountSetting is the effective value of a setting for the account root
// (the caller of every Berth request).
func (s *Server) accountSetting(sc state.Scope, name ecs.SettingName) string {
	if st, ok := s.explicitSetting(sc, rootPrincipal(sc), name); ok {
		return ecs.Val(st.Value)
	}
	return settingRules[name].builtIn
}

func (s *Server) ListAccountSettings(ctx context.Context, in *ecs.ListAccountSettingsRequest) (*ecs.ListAccountSettingsResponse, error) {
	sc := scopeOf(ctx)
	principal, err := principalOf(sc, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	if in.Value != nil && in.Name == "" {
		return nil, ecs.NewInvalidParameterException("The value parameter can only be used with the name parameter.")
	}
	limit := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, errMaxResults(10)
		}
		limit = int(*in.MaxResults)
	}
	names := make([]string, 0, len(settingRules))
	for n := range settingRules {
		names = append(names, string(n))
	}
	slices.Sort(names)

	var all []ecs.Setting
	for _, n := range names {
		name := ecs.SettingName(n)
		if in.Name != "" && in.Name != name {
			continue
		}
		st, ok := s.explicitSetting(sc, principal, name)
		if !ok && ecs.Val(in.EffectiveSettings) {
			if st, ok = s.explicitSetting(sc, rootPrincipal(sc), name); !ok {
				st, ok = &ecs.Setting{Name: name, Value: ecs.Ptr(settingRules[name].builtIn), PrincipalArn: ecs.Ptr(rootPrincipal(sc)), Type: ecs.SettingTypeAwsManaged}, true
			}
		}
		if !ok || (in.Value != nil && ecs.Val(st.Value) != *in.Value) {
			continue
		}
		all = append(all, *st)
	}

	// The token is the name of the last setting of the previous page.
	start := 0
	if tok := ecs.Val(in.NextToken); tok != "" {
		start = slices.IndexFunc(all, func(st ecs.Setting) bool { return string(st.Name) > tok })
		if start < 0 {
			start = len(all)
		}
	}
	out := &ecs.ListAccountSettingsResponse{Settings: []ecs.Setting{}}
	end := min(start+limit, len(all))
	out.Settings = append(out.Settings, all[start:end]...)
	if end < len(all) {
		out.NextToken = ecs.Ptr(string(all[end-1].Name))
	}
	return out, nil
}
