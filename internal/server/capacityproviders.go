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

// Capacity providers. Berth has no EC2 Auto Scaling: a custom provider's
// Auto Scaling group settings are stored and shown as given, and nothing
// scales. FARGATE and FARGATE_SPOT exist in every account, as in ECS.

var capacityProviderNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// withScalingDefaults fills in what ECS reports for settings left out.
func withScalingDefaults(p *ecs.AutoScalingGroupProvider) *ecs.AutoScalingGroupProvider {
	out := *p
	ms := ecs.ManagedScaling{}
	if p.ManagedScaling != nil {
		ms = *p.ManagedScaling
	}
	if ms.Status == "" {
		ms.Status = ecs.ManagedScalingStatusDisabled
	}
	if ms.TargetCapacity == nil {
		ms.TargetCapacity = ecs.Ptr(int32(100))
	}
	if ms.MinimumScalingStepSize == nil {
		ms.MinimumScalingStepSize = ecs.Ptr(int32(1))
	}
	if ms.MaximumScalingStepSize == nil {
		ms.MaximumScalingStepSize = ecs.Ptr(int32(10000))
	}
	if ms.InstanceWarmupPeriod == nil {
		ms.InstanceWarmupPeriod = ecs.Ptr(int32(300))
	}
	out.ManagedScaling = &ms
	if out.ManagedTerminationProtection == "" {
		out.ManagedTerminationProtection = ecs.ManagedTerminationProtectionDisabled
	}
	if out.ManagedDraining == "" {
		out.ManagedDraining = ecs.ManagedDrainingEnabled
	}
	return &out
}

func (s *Server) CreateCapacityProvider(ctx context.Context, in *ecs.CreateCapacityProviderRequest) (*ecs.CreateCapacityProviderResponse, error) {
	sc := scopeOf(ctx)
	name := ecs.Val(in.Name)
	if !capacityProviderNamePattern.MatchString(name) {
		return nil, ecs.NewInvalidParameterException("The specified capacity provider name is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	lower := strings.ToLower(name)
	for _, reserved := range []string{"aws", "ecs", "fargate"} {
		if strings.HasPrefix(lower, reserved) {
			return nil, ecs.NewInvalidParameterException("The specified capacity provider name is invalid. Capacity provider names cannot be prefixed with 'aws', 'ecs', or 'fargate'.")
		}
	}
	if (in.AutoScalingGroupProvider == nil) == (in.ManagedInstancesProvider == nil) {
		return nil, ecs.NewInvalidParameterException("Specify exactly one of autoScalingGroupProvider or managedInstancesProvider.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	rec := &state.CapacityProvider{
		Schema: 1, ARN: sc.ARN("capacity-provider/" + name), Name: name, Status: state.StatusActive,
		Type: string(ecs.CapacityProviderTypeEc2Autoscaling), Tags: in.Tags,
	}
	if in.AutoScalingGroupProvider != nil {
		rec.AutoScalingGroupProvider = withScalingDefaults(in.AutoScalingGroupProvider)
	} else {
		_, cl, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster))
		if err != nil {
			return nil, err
		}
		rec.Type, rec.Cluster, rec.ManagedInstancesProvider = string(ecs.CapacityProviderTypeManagedInstances), cl.Name, in.ManagedInstancesProvider
	}
	key := sc.Key(state.KindCapacityProvider, name)
	err := s.update(ctx, func() ([]store.Op, error) {
		o, found := s.store.Get(key)
		if !found {
			return []store.Op{store.Create(key, rec)}, nil
		}
		old, err := decode[state.CapacityProvider](s, o)
		if err != nil {
			return nil, err
		}
		if old.Status == state.StatusActive {
			return nil, ecs.NewClientException("The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
		}
		return []store.Op{store.Put(key, rec, o.Rev)}, nil // the name of a deleted provider is free again
	})
	if err != nil {
		return nil, err
	}
	return &ecs.CreateCapacityProviderResponse{CapacityProvider: providerView(rec, true)}, nil
}

func (s *Server) UpdateCapacityProvider(ctx context.Context, in *ecs.UpdateCapacityProviderRequest) (*ecs.UpdateCapacityProviderResponse, error) {
	sc := scopeOf(ctx)
	name, _ := state.ProviderNameFrom(sc, ecs.Val(in.Name))
	if state.IsBuiltInProvider(name) {
		return nil, ecs.NewClientException("The %s capacity provider cannot be updated.", name)
	}
	var result *state.CapacityProvider
	err := s.update(ctx, func() ([]store.Op, error) {
		o, p, err := s.state.Provider(sc, name)
		if err != nil {
			return nil, err
		}
		if p == nil || p.Status != state.StatusActive {
			return nil, errNoSuchCapacityProvider()
		}
		changed, err := decodeCopy[state.CapacityProvider](s, o)
		if err != nil {
			return nil, err
		}
		if u := in.AutoScalingGroupProvider; u != nil {
			if changed.AutoScalingGroupProvider == nil {
				return nil, ecs.NewInvalidParameterException("The capacity provider %s does not use an Auto Scaling group.", name)
			}
			asg := *changed.AutoScalingGroupProvider
			if u.ManagedScaling != nil {
				asg.ManagedScaling = u.ManagedScaling
			}
			if u.ManagedTerminationProtection != "" {
				asg.ManagedTerminationProtection = u.ManagedTerminationProtection
			}
			if u.ManagedDraining != "" {
				asg.ManagedDraining = u.ManagedDraining
			}
			changed.AutoScalingGroupProvider = withScalingDefaults(&asg)
		}
		changed.UpdateStatus = string(ecs.CapacityProviderUpdateStatusUpdateComplete)
		result = changed
		return []store.Op{store.Put(o.Key, changed, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.UpdateCapacityProviderResponse{CapacityProvider: providerView(result, true)}, nil
}

func (s *Server) DeleteCapacityProvider(ctx context.Context, in *ecs.DeleteCapacityProviderRequest) (*ecs.DeleteCapacityProviderResponse, error) {
	sc := scopeOf(ctx)
	name, _ := state.ProviderNameFrom(sc, ecs.Val(in.CapacityProvider))
	if state.IsBuiltInProvider(name) {
		return nil, ecs.NewClientException("The %s capacity provider cannot be deleted.", name)
	}
	var result *state.CapacityProvider
	err := s.update(ctx, func() ([]store.Op, error) {
		o, p, err := s.state.Provider(sc, name)
		if err != nil {
			return nil, err
		}
		if p == nil || p.Status != state.StatusActive {
			return nil, errNoSuchCapacityProvider()
		}
		if user := s.clusterUsingProvider(sc, name); user != "" {
			return nil, ecs.NewClientException("The specified capacity provider is in use by cluster %s. Remove the capacity provider from the cluster's capacity providers and default strategy and try again.", user)
		}
		changed, err := decodeCopy[state.CapacityProvider](s, o)
		if err != nil {
			return nil, err
		}
		changed.Status = state.StatusInactive
		changed.UpdateStatus = string(ecs.CapacityProviderUpdateStatusDeleteComplete)
		result = changed
		return []store.Op{store.Put(o.Key, changed, o.Rev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.DeleteCapacityProviderResponse{CapacityProvider: providerView(result, true)}, nil
}

// clusterUsingProvider names an ACTIVE cluster that uses a provider, or "".
func (s *Server) clusterUsingProvider(sc state.Scope, name string) string {
	for _, o := range s.store.List(sc.Prefix(state.KindCluster), "", 0) {
		c, err := decode[state.Cluster](s, o)
		if err != nil || c.Status != state.StatusActive {
			continue
		}
		uses := slices.Contains(c.CapacityProviders, name)
		for _, item := range c.DefaultCapacityProviderStrategy {
			uses = uses || ecs.Val(item.CapacityProvider) == name
		}
		if uses {
			return c.Name
		}
	}
	return ""
}

func (s *Server) DescribeCapacityProviders(ctx context.Context, in *ecs.DescribeCapacityProvidersRequest) (*ecs.DescribeCapacityProvidersResponse, error) {
	sc := scopeOf(ctx)
	withTags := slices.Contains(in.Include, ecs.CapacityProviderFieldTags)
	out := &ecs.DescribeCapacityProvidersResponse{CapacityProviders: []ecs.CapacityProvider{}, Failures: []ecs.Failure{}}
	if len(in.CapacityProviders) > 0 {
		for _, ref := range in.CapacityProviders {
			name, ok := state.ProviderNameFrom(sc, ref)
			if ok && state.IsBuiltInProvider(name) {
				out.CapacityProviders = append(out.CapacityProviders, *builtInProviderView(sc, name))
				continue
			}
			_, p, err := s.state.Provider(sc, name)
			if err != nil {
				return nil, err
			}
			if !ok || p == nil {
				arn := ref
				if !state.IsARN(ref) {
					arn = sc.ARN("capacity-provider/" + ref)
				}
				out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(arn), Reason: ecs.Ptr("MISSING")})
				continue
			}
			out.CapacityProviders = append(out.CapacityProviders, *providerView(p, withTags))
		}
		return out, nil
	}

	// All providers: the built-in ones first, then the account's, paged by name.
	var all []ecs.CapacityProvider
	for _, name := range state.BuiltInProviders {
		all = append(all, *builtInProviderView(sc, name))
	}
	for _, o := range s.store.List(sc.Prefix(state.KindCapacityProvider), "", 0) {
		p, err := decode[state.CapacityProvider](s, o)
		if err != nil {
			return nil, err
		}
		all = append(all, *providerView(p, withTags))
	}
	limit := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, errMaxResults(10)
		}
		limit = int(*in.MaxResults)
	}
	start := 0
	if tok := ecs.Val(in.NextToken); tok != "" {
		start = slices.IndexFunc(all, func(p ecs.CapacityProvider) bool { return ecs.Val(p.Name) == tok }) + 1
		if start == 0 {
			return nil, errInvalidNextToken()
		}
	}
	end := min(start+limit, len(all))
	out.CapacityProviders = append(out.CapacityProviders, all[start:end]...)
	if end < len(all) {
		out.NextToken = all[end-1].Name
	}
	return out, nil
}

func builtInProviderView(sc state.Scope, name string) *ecs.CapacityProvider {
	return &ecs.CapacityProvider{
		CapacityProviderArn: ecs.Ptr(sc.ARN("capacity-provider/" + name)),
		Name:                ecs.Ptr(name),
		Status:              ecs.CapacityProviderStatusActive,
		Type:                ecs.CapacityProviderType(name),
	}
}

func providerView(p *state.CapacityProvider, withTags bool) *ecs.CapacityProvider {
	out := &ecs.CapacityProvider{
		CapacityProviderArn:      ecs.Ptr(p.ARN),
		Name:                     ecs.Ptr(p.Name),
		Cluster:                  strPtr(p.Cluster),
		Status:                   ecs.CapacityProviderStatus(p.Status),
		UpdateStatus:             ecs.CapacityProviderUpdateStatus(p.UpdateStatus),
		Type:                     ecs.CapacityProviderType(p.Type),
		AutoScalingGroupProvider: p.AutoScalingGroupProvider,
	}
	if withTags {
		out.Tags = p.Tags
	}
	return out
}

// validateCapacityProviders checks the capacity providers a cluster is to
// use and its default strategy, as CreateCluster and
// PutClusterCapacityProviders do in ECS.
func (s *Server) validateCapacityProviders(sc state.Scope, names []string, strategy []ecs.CapacityProviderStrategyItem) error {
	fargate, custom := false, false
	for _, name := range names {
		if state.IsBuiltInProvider(name) {
			fargate = true
			continue
		}
		_, p, err := s.state.Provider(sc, name)
		if err != nil {
			return err
		}
		if p == nil || p.Status != state.StatusActive {
			return ecs.NewInvalidParameterException("The specified capacity provider '%s' does not exist or is not ACTIVE. Specify a valid capacity provider and try again.", name)
		}
		custom = true
	}
	if len(strategy) > 20 {
		return ecs.NewInvalidParameterException("A capacity provider strategy can contain at most 20 capacity providers.")
	}
	withBase := 0
	for _, item := range strategy {
		if !slices.Contains(names, ecs.Val(item.CapacityProvider)) {
			return ecs.NewInvalidParameterException("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		}
		if ecs.Val(item.Base) > 0 {
			withBase++
		}
	}
	if withBase > 1 {
		return ecs.NewInvalidParameterException("Only one capacity provider in a capacity provider strategy can have a base defined.")
	}
	if fargate && custom && len(strategy) > 0 {
		mixed := false
		for _, item := range strategy {
			mixed = mixed || !state.IsBuiltInProvider(ecs.Val(item.CapacityProvider))
		}
		if mixed && slices.ContainsFunc(strategy, func(i ecs.CapacityProviderStrategyItem) bool {
			return state.IsBuiltInProvider(ecs.Val(i.CapacityProvider))
		}) {
			return ecs.NewInvalidParameterException("The capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.")
		}
	}
	return nil
}
