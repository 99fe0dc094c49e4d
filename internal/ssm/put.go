package ssm

import (
	"context"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/berth-project/berth/api/ecs"
	api "github.com/berth-project/berth/api/ssm"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// defaultKeyID is the AWS managed key SSM seals SecureStrings with when no
// KeyId is given. Berth has no KMS: it is the only key it accepts, and
// Berth's own keyring does the sealing (docs/compatibility.md).
const defaultKeyID = "alias/aws/ssm"

// PutParameter creates a parameter or, with Overwrite, adds a version.
// Every check is made before anything is written: a refused request leaves
// the store as it was.
func (s *Service) PutParameter(ctx context.Context, in *api.PutParameterRequest) (*api.PutParameterResult, error) {
	sc := scopeOf(ctx)
	name := ecs.Val(in.Name)
	if in.Name == nil {
		return nil, api.NewValidationException("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if in.Value == nil {
		return nil, api.NewValidationException("1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null")
	}
	if err := checkPutInput(in); err != nil {
		return nil, err
	}
	var answer *api.PutParameterResult
	err := s.update(ctx, func() ([]store.Op, error) {
		o, existing, err := s.parameter(sc, name)
		if err != nil {
			return nil, err
		}
		if existing != nil && !ecs.Val(in.Overwrite) {
			return nil, api.NewParameterAlreadyExists("The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		v, err := nextVersion(sc, in, existing)
		if err != nil {
			return nil, err
		}
		v.LastModified = time.Now().UTC().Truncate(time.Millisecond)
		v.LastModifiedUser = userOf(ctx)
		if v.Sealed, err = s.keys.Seal([]byte(*in.Value), sc.SealContext(name, v.Version)); err != nil {
			return nil, err
		}
		answer = &api.PutParameterResult{Version: ecs.Ptr(v.Version), Tier: api.ParameterTier(v.Tier)}
		if existing == nil {
			guard, err := s.quotaGuard(sc)
			if err != nil {
				return nil, err
			}
			return []store.Op{guard, store.Create(sc.ParameterKey(name), &state.Parameter{Schema: state.ParameterSchema, Name: name, Versions: []state.ParameterVersion{v}})}, nil
		}
		next := &state.Parameter{Schema: state.ParameterSchema, Name: name, Versions: append(append([]state.ParameterVersion(nil), existing.Versions...), v)}
		if len(next.Versions) > maxVersions {
			next.Versions = next.Versions[len(next.Versions)-maxVersions:]
		}
		return []store.Op{store.Put(o.Key, next, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return answer, nil
}

// quotaGuard checks, inside a creation's plan, that the scope may have one
// more parameter, and returns the write of the scope's quota guard
// (state.QuotaGuard): two creations racing at the quota conflict on it, and
// the second counts again.
func (s *Service) quotaGuard(sc state.Scope) (store.Op, error) {
	if s.store().Count(sc.Prefix(state.KindParameter)) >= maxParameters {
		return store.Op{}, api.NewParameterLimitExceeded("You have exceeded the number of parameters for this AWS account. Delete unnecessary parameters and try again.")
	}
	key := sc.Key(state.KindQuotaGuard, state.QuotaGuardParameters)
	guard := &state.QuotaGuard{Schema: state.QuotaGuardSchema, Counts: state.QuotaGuardParameters}
	if o, found := s.store().Get(key); found {
		return store.Put(key, guard, o.Rev), nil
	}
	return store.Create(key, guard), nil
}

// checkPutInput checks what does not depend on the stored parameter.
func checkPutInput(in *api.PutParameterRequest) error {
	if in.Type != "" && in.Type != api.ParameterTypeString && in.Type != api.ParameterTypeStringList && in.Type != api.ParameterTypeSecureString {
		return api.NewValidationException("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	switch in.Tier {
	case "", api.ParameterTierStandard, api.ParameterTierAdvanced, api.ParameterTierIntelligentTiering:
	default:
		return api.NewValidationException("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]", in.Tier)
	}
	if n := utf8.RuneCountInString(ecs.Val(in.Description)); n > 1024 {
		return api.NewValidationException("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	if *in.Value == "" {
		return api.NewValidationException("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n := utf8.RuneCountInString(*in.Value); n > maxAdvancedLen {
		return api.NewValidationException("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to %d", maxAdvancedLen)
	}
	if in.Policies != nil && *in.Policies != "" {
		return api.NewValidationException("Parameter policies are not supported by Berth.")
	}
	if dt := ecs.Val(in.DataType); dt != "" && dt != "text" {
		return api.NewValidationException("The following data type is not supported by Berth: %s (only text is).", dt)
	}
	if len(in.Tags) > 0 && ecs.Val(in.Overwrite) {
		return api.NewValidationException("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if p := ecs.Val(in.AllowedPattern); p != "" {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil || len(p) > 1024 {
			return api.NewInvalidAllowedPatternException("The parameter value doesn't meet the regular expression requirement: %s", p)
		}
		if !re.MatchString(*in.Value) {
			return api.NewParameterPatternMismatchException("Parameter value, cannot be validated against allowedPattern: %s", p)
		}
	}
	return nil
}

// nextVersion is the version PutParameter adds to existing (nil: a new
// parameter); what the request leaves out (type, description, pattern,
// key, tier) is kept from the latest version, as SSM keeps it.
func nextVersion(sc state.Scope, in *api.PutParameterRequest, existing *state.Parameter) (state.ParameterVersion, error) {
	v := state.ParameterVersion{Version: 1, Type: string(in.Type), Description: ecs.Val(in.Description),
		AllowedPattern: ecs.Val(in.AllowedPattern), DataType: "text", KeyID: ecs.Val(in.KeyId)}
	if existing != nil {
		latest := existing.Latest()
		v.Version = latest.Version + 1
		if v.Type == "" {
			v.Type = latest.Type
		}
		if in.Description == nil {
			v.Description = latest.Description
		}
		if in.AllowedPattern == nil && latest.AllowedPattern != "" {
			// The pattern kept from the latest version holds the new value too.
			v.AllowedPattern = latest.AllowedPattern
			if re, err := regexp.Compile("^(?:" + v.AllowedPattern + ")$"); err == nil && !re.MatchString(*in.Value) {
				return v, api.NewParameterPatternMismatchException("Parameter value, cannot be validated against allowedPattern: %s", v.AllowedPattern)
			}
		}
		if in.KeyId == nil && v.Type == latest.Type {
			v.KeyID = latest.KeyID
		}
	}
	if v.Type == "" {
		return v, api.NewValidationException("A parameter type is required when you create a parameter.")
	}
	if v.Type != string(api.ParameterTypeSecureString) {
		if in.KeyId != nil {
			return v, api.NewValidationException("KeyId is required for SecureString type parameter only.")
		}
		v.KeyID = ""
	} else {
		if v.KeyID == "" {
			v.KeyID = defaultKeyID
		}
		if v.KeyID != defaultKeyID && v.KeyID != "arn:aws:kms:"+sc.Region+":"+sc.Account+":"+defaultKeyID {
			return v, api.NewInvalidKeyId("Invalid KeyId %s: Berth has no KMS keys; SecureString values are sealed with Berth's own key under %s.", v.KeyID, defaultKeyID)
		}
	}
	tier, err := tierOf(in, existing, utf8.RuneCountInString(*in.Value))
	if err != nil {
		return v, err
	}
	v.Tier = tier
	return v, nil
}

// tierOf decides the version's tier. Berth serves the Advanced tier (values
// up to 8 KB) as it serves Standard: there is no price to tell them apart.
// Intelligent-Tiering picks Standard when the value fits it; an Advanced
// parameter stays Advanced, as SSM never downgrades one.
func tierOf(in *api.PutParameterRequest, existing *state.Parameter, chars int) (string, error) {
	advanced := existing != nil && existing.Latest().Tier == string(api.ParameterTierAdvanced)
	switch in.Tier {
	case api.ParameterTierAdvanced:
		return string(api.ParameterTierAdvanced), nil
	case api.ParameterTierIntelligentTiering:
		if advanced || chars > maxValueChars {
			return string(api.ParameterTierAdvanced), nil
		}
		return string(api.ParameterTierStandard), nil
	case api.ParameterTierStandard:
		if advanced {
			return "", api.NewValidationException("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
		}
	}
	if advanced {
		return string(api.ParameterTierAdvanced), nil
	}
	if chars > maxValueChars {
		return "", api.NewValidationException("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	}
	return string(api.ParameterTierStandard), nil
}
