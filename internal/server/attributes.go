package server

import (
	"context"
	"encoding/base64"
	"regexp"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Attributes live on the container instance records they belong to (the
// only target type ECS has), so placement reads them with the instance.

// ECS's rules for attributes: names of 1 to 128 letters, digits, hyphens,
// underscores, forward and back slashes and periods; values of 1 to 128 of
// the same characters plus at signs, colons and spaces, not starting or
// ending with a space.
var (
	attrNamePattern  = regexp.MustCompile(`^[a-zA-Z0-9_./\\-]{1,128}$`)
	attrValuePattern = regexp.MustCompile(`^[a-zA-Z0-9_.@/\\: -]{1,128}$`)
)

// maxCustomAttributes is ECS's limit of custom attributes on one resource,
// and maxAttributesPerCall its limit on one PutAttributes or
// DeleteAttributes call.
const (
	maxCustomAttributes  = 10
	maxAttributesPerCall = 10
)

func validateAttribute(a ecs.Attribute) error {
	name := ecs.Val(a.Name)
	if !attrNamePattern.MatchString(name) {
		return ecs.NewInvalidParameterException("Attribute name %q is invalid. The name must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens, underscores, forward slashes, back slashes, or periods.", name)
	}
	if a.Value != nil {
		v := *a.Value
		if !attrValuePattern.MatchString(v) || strings.HasPrefix(v, " ") || strings.HasSuffix(v, " ") {
			return ecs.NewInvalidParameterException("Attribute value %q is invalid. The value must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons, or spaces, and can't start or end with a space.", v)
		}
	}
	return nil
}

// validAttributesOnly keeps the attributes that pass ECS's rules.
func validAttributesOnly(attrs []ecs.Attribute) []ecs.Attribute {
	var out []ecs.Attribute
	for _, a := range attrs {
		if validateAttribute(a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// isSystemAttribute tells ECS's own attributes (set by ECS and the agent)
// from custom ones, which alone count towards the limit.
func isSystemAttribute(name string) bool {
	return strings.HasPrefix(name, "ecs.") || strings.HasPrefix(name, "com.amazonaws.ecs.")
}

// mergeAttributes combines lists of attributes into one with each name
// once, a later list's value replacing an earlier one's. Only name and value
// are kept: the target is the record that holds them.
func mergeAttributes(lists ...[]ecs.Attribute) []ecs.Attribute {
	var out []ecs.Attribute
	at := map[string]int{}
	for _, l := range lists {
		for _, a := range l {
			kept := ecs.Attribute{Name: a.Name, Value: a.Value}
			if i, ok := at[ecs.Val(a.Name)]; ok {
				out[i] = kept
				continue
			}
			at[ecs.Val(a.Name)] = len(out)
			out = append(out, kept)
		}
	}
	return out
}

func customAttributeCount(attrs []ecs.Attribute) int {
	n := 0
	for _, a := range attrs {
		if !isSystemAttribute(ecs.Val(a.Name)) {
			n++
		}
	}
	return n
}

func errTargetNotFound() error {
	return ecs.NewTargetNotFoundException("The specified target wasn't found. You can view your available container instances with ListContainerInstances. Amazon ECS container instances are cluster-specific and Region-specific.")
}

// checkAttributeRequest applies the rules every attribute of a PutAttributes
// or DeleteAttributes call must meet before anything is looked up.
func checkAttributeRequest(attrs []ecs.Attribute, checkValues bool) error {
	if len(attrs) > maxAttributesPerCall {
		return ecs.NewInvalidParameterException("attributes can have at most %d items.", maxAttributesPerCall)
	}
	for _, a := range attrs {
		if checkValues {
			if err := validateAttribute(a); err != nil {
				return err
			}
		} else if !attrNamePattern.MatchString(ecs.Val(a.Name)) {
			return validateAttribute(ecs.Attribute{Name: a.Name})
		}
		id := ecs.Val(a.TargetId)
		if id == "" {
			return ecs.NewInvalidParameterException("Attribute %q has no targetId. Specify the container instance ID or full ARN.", ecs.Val(a.Name))
		}
		if !state.IsARN(id) && a.TargetType == "" {
			return ecs.NewInvalidParameterException("targetType must be specified when targetId is not a full ARN.")
		}
	}
	return nil
}

// attributeTargets resolves the target of each attribute to a private copy
// of its container instance, one copy per instance however many attributes
// name it, in the order first named.
type attributeTargets struct {
	objs    map[string]*store.Object
	records map[string]*state.Instance
	order   []string
}

func (s *Server) resolveAttributeTargets(sc state.Scope, cluster string, attrs []ecs.Attribute) (*attributeTargets, []string, error) {
	t := &attributeTargets{objs: map[string]*store.Object{}, records: map[string]*state.Instance{}}
	keys := make([]string, len(attrs))
	for i, a := range attrs {
		o, r, err := s.state.Instance(sc, cluster, ecs.Val(a.TargetId))
		if err != nil {
			return nil, nil, err
		}
		if o == nil || r.Status == state.StatusInactive {
			return nil, nil, errTargetNotFound()
		}
		keys[i] = o.Key
		if _, ok := t.records[o.Key]; ok {
			continue
		}
		cp, err := decodeCopy[state.Instance](s, o)
		if err != nil {
			return nil, nil, err
		}
		t.objs[o.Key], t.records[o.Key] = o, cp
		t.order = append(t.order, o.Key)
	}
	return t, keys, nil
}

func (t *attributeTargets) ops() []store.Op {
	ops := make([]store.Op, 0, len(t.order))
	for _, k := range t.order {
		r := t.records[k]
		r.Version++
		ops = append(ops, store.Put(k, r, t.objs[k].Rev))
	}
	return ops
}

func (s *Server) PutAttributes(ctx context.Context, in *ecs.PutAttributesRequest) (*ecs.PutAttributesResponse, error) {
	sc := scopeOf(ctx)
	if err := checkAttributeRequest(in.Attributes, true); err != nil {
		return nil, err
	}
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
		if err != nil {
			return nil, err
		}
		t, keys, err := s.resolveAttributeTargets(sc, cl.Name, in.Attributes)
		if err != nil {
			return nil, err
		}
		for i, a := range in.Attributes {
			r := t.records[keys[i]]
			r.Attributes = mergeAttributes(r.Attributes, []ecs.Attribute{a})
		}
		for _, k := range t.order {
			if customAttributeCount(t.records[k].Attributes) > maxCustomAttributes {
				return nil, ecs.NewAttributeLimitExceededException("You can apply up to %d custom attributes for each resource. You can view the attributes of a resource with ListAttributes. You can remove existing attributes on a resource with DeleteAttributes.", maxCustomAttributes)
			}
		}
		return t.ops(), nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.PutAttributesResponse{Attributes: in.Attributes}, nil
}

// DeleteAttributes removes attributes by name, whatever their value; one
// the target does not have is already gone, so deleting it succeeds.
func (s *Server) DeleteAttributes(ctx context.Context, in *ecs.DeleteAttributesRequest) (*ecs.DeleteAttributesResponse, error) {
	sc := scopeOf(ctx)
	if err := checkAttributeRequest(in.Attributes, false); err != nil {
		return nil, err
	}
	err := s.update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
		if err != nil {
			return nil, err
		}
		t, keys, err := s.resolveAttributeTargets(sc, cl.Name, in.Attributes)
		if err != nil {
			return nil, err
		}
		for i, a := range in.Attributes {
			r := t.records[keys[i]]
			kept := r.Attributes[:0:0]
			for _, have := range r.Attributes {
				if ecs.Val(have.Name) != ecs.Val(a.Name) {
					kept = append(kept, have)
				}
			}
			r.Attributes = kept
		}
		return t.ops(), nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.DeleteAttributesResponse{Attributes: in.Attributes}, nil
}

// ListAttributes answers one entry per attribute per container instance
// that is not INACTIVE, in instance then name order. Its pages are cut
// between entries, so the token names an instance key and an attribute.
func (s *Server) ListAttributes(ctx context.Context, in *ecs.ListAttributesRequest) (*ecs.ListAttributesResponse, error) {
	sc := scopeOf(ctx)
	if in.AttributeValue != nil && in.AttributeName == nil {
		return nil, ecs.NewInvalidParameterException("attributeName must be specified when attributeValue is.")
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, errMaxResults(100)
		}
		limit = int(*in.MaxResults)
	}
	_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
	if err != nil {
		return nil, err
	}
	prefix := sc.Prefix(state.KindInstance) + cl.Name + "/"
	after := ""
	if t := ecs.Val(in.NextToken); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return nil, errInvalidNextToken()
		}
		after = string(raw)
	}
	out := &ecs.ListAttributesResponse{Attributes: []ecs.Attribute{}}
	lastCursor := ""
	for _, o := range s.store.List(prefix, "", 0) {
		r, err := decode[state.Instance](s, o)
		if err != nil {
			return nil, err
		}
		if r.Status == state.StatusInactive {
			continue
		}
		attrs := append([]ecs.Attribute(nil), r.Attributes...)
		sort.SliceStable(attrs, func(i, j int) bool { return ecs.Val(attrs[i].Name) < ecs.Val(attrs[j].Name) })
		for _, a := range attrs {
			if in.AttributeName != nil && ecs.Val(a.Name) != *in.AttributeName {
				continue
			}
			if in.AttributeValue != nil && ecs.Val(a.Value) != *in.AttributeValue {
				continue
			}
			cursor := o.Key + "\x00" + ecs.Val(a.Name)
			if after != "" && cursor <= after {
				continue
			}
			if len(out.Attributes) == limit {
				out.NextToken = ecs.Ptr(base64.RawURLEncoding.EncodeToString([]byte(lastCursor)))
				return out, nil
			}
			out.Attributes = append(out.Attributes, ecs.Attribute{Name: a.Name, Value: a.Value, TargetId: ecs.Ptr(r.ARN)})
			lastCursor = cursor
		}
	}
	return out, nil
}
