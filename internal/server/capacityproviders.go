package server

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Capacity providers. Berth has no EC2 Auto Scaling: a custom provider's
// Auto Scaling group settings are stored and shown as given, and nothing
// scales. FARGATE and FARGATE_SPOT exist in every account, as in ECS.

// capacityProviderRecord is a custom capacity provider as stored.
type capacityProviderRecord struct {
	Schema                   int                                              `json:"schema"`
	ARN                      string                                           `json:"arn"`
	Name                     string                                           `json:"name"`
	Status                   string                                           `json:"status"` // ACTIVE or INACTIVE
	UpdateStatus             string                                           `json:"updateStatus,omitempty"`
	Type                     string                                           `json:"type"`
	Cluster                  string                                           `json:"cluster,omitempty"`
	AutoScalingGroupProvider *ecs.AutoScalingGroupProvider                    `json:"autoScalingGroupProvider,omitempty"`
	ManagedInstancesProvider *ecs.CreateManagedInstancesProviderConfiguration `json:"managedInstancesProvider,omitempty"`
	Tags                     []ecs.Tag                                        `json:"tags,omitempty"`
}

var builtInProviders = []string{"FARGATE", "FARGATE_SPOT"}

var capacityProviderNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// isBuiltInProvider: FARGATE or FARGATE_SPOT, which run on the instances
// designated for them (see docs/compatibility.md).
func isBuiltInProvider(name string) bool { return slices.Contains(builtInProviders, name) }

// providerNameFrom returns the name a capacityProvider parameter (a name or
// an ARN) refers to in this scope.
func providerNameFrom(sc scope, ref string) (string, bool) {
	if !isARN(ref) {
		return ref, ref != ""
	}
	a, ok := parseARN(ref)
	if !ok || a.kind != "capacity-provider" || len(a.path) != 1 || !a.inScope(sc) {
		return "", false
	}
	return a.path[0], true
}

func (s *Server) findProvider(sc scope, name string) (*store.Object, *capacityProviderRecord, error) {
	o, found := s.store.Get(sc.key(kindCapacityProvider, name))
	if !found {
		return nil, nil, nil
	}
	p, err := decode[capacityProviderRecord](s, o)
	return o, p, err
}

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
	rec := &capacityProviderRecord{
		Schema: 1, ARN: sc.arn("capacity-provider/" + name), Name: name, Status: statusActive,
		Type: string(ecs.CapacityProviderTypeEc2Autoscaling), Tags: in.Tags,
	}
	if in.AutoScalingGroupProvider != nil {
		rec.AutoScalingGroupProvider = withScalingDefaults(in.AutoScalingGroupProvider)
	} else {
		_, cl, err := s.activeCluster(sc, in.Cluster)
		if err != nil {
			return nil, err
		}
		rec.Type, rec.Cluster, rec.ManagedInstancesProvider = string(ecs.CapacityProviderTypeManagedInstances), cl.Name, in.ManagedInstancesProvider
	}
	key := sc.key(kindCapacityProvider, name)
	err := s.update(ctx, func() ([]store.Op, error) {
		o, found := s.store.Get(key)
		if !found {
			return []store.Op{store.Create(key, rec)}, nil
		}
		old, err := decode[capacityProviderRecord](s, o)
		if err != nil {
			return nil, err
		}
		if old.Status == statusActive {
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
	name, _ := providerNameFrom(sc, ecs.Val(in.Name))
	if isBuiltInProvider(name) {
		return nil, ecs.NewClientException("The %s capacity provider cannot be updated.", name)
	}
	var result *capacityProviderRecord
	err := s.update(ctx, func() ([]store.Op, error) {
		o, p, err := s.findProvider(sc, name)
		if err != nil {
			return nil, err
		}
		if p == nil || p.Status != statusActive {
			return nil, ecs.NewClientException("The specified capacity provider does not exist.")
		}
		changed, err := decodeCopy[capacityProviderRecord](s, o)
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
	name, _ := providerNameFrom(sc, ecs.Val(in.CapacityProvider))
	if isBuiltInProvider(name) {
		return nil, ecs.NewClientException("The %s capacity provider cannot be deleted.", name)
	}
	var result *capacityProviderRecord
	err := s.update(ctx, func() ([]store.Op, error) {
		o, p, err := s.findProvider(sc, name)
		if err != nil {
			return nil, err
		}
		if p == nil || p.Status != statusActive {
			return nil, ecs.NewClientException("The specified capacity provider does not exist.")
		}
		if user := s.clusterUsingProvider(sc, name); user != "" {
			return nil, ecs.NewClientException("The specified capacity provider is in use by cluster %s. Remove the capacity provider from the cluster's capacity providers and default strategy and try again.", user)
		}
		changed, err := decodeCopy[capacityProviderRecord](s, o)
		if err != nil {
			return nil, err
		}
		changed.Status = statusInactive
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
func (s *Server) clusterUsingProvider(sc scope, name string) string {
	for _, o := range s.store.List(sc.prefix(kindCluster), "", 0) {
		c, err := decode[clusterRecord](s, o)
		if err != nil || c.Status != statusActive {
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
			name, ok := providerNameFrom(sc, ref)
			if ok && isBuiltInProvider(name) {
				out.CapacityProviders = append(out.CapacityProviders, *builtInProviderView(sc, name))
				continue
			}
			_, p, err := s.findProvider(sc, name)
			if err != nil {
				return nil, err
			}
			if !ok || p == nil {
				arn := ref
				if !isARN(ref) {
					arn = sc.arn("capacity-provider/" + ref)
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
	for _, name := range builtInProviders {
		all = append(all, *builtInProviderView(sc, name))
	}
	for _, o := range s.store.List(sc.prefix(kindCapacityProvider), "", 0) {
		p, err := decode[capacityProviderRecord](s, o)
		if err != nil {
			return nil, err
		}
		all = append(all, *providerView(p, withTags))
	}
	limit := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, ecs.NewInvalidParameterException("maxResults must be between 1 and 10.")
		}
		limit = int(*in.MaxResults)
	}
	start := 0
	if tok := ecs.Val(in.NextToken); tok != "" {
		start = slices.IndexFunc(all, func(p ecs.CapacityProvider) bool { return ecs.Val(p.Name) == tok }) + 1
		if start == 0 {
			return nil, ecs.NewInvalidParameterException("Invalid nextToken.")
		}
	}
	end := min(start+limit, len(all))
	out.CapacityProviders = append(out.CapacityProviders, all[start:end]...)
	if end < len(all) {
		out.NextToken = all[end-1].Name
	}
	return out, nil
}

func builtInProviderView(sc scope, name string) *ecs.CapacityProvider {
	return &ecs.CapacityProvider{
		CapacityProviderArn: ecs.Ptr(sc.arn("capacity-provider/" + name)),
		Name:                ecs.Ptr(name),
		Status:              ecs.CapacityProviderStatusActive,
		Type:                ecs.CapacityProviderType(name),
		Tags:                []ecs.Tag{},
	}
}

func providerView(p *capacityProviderRecord, withTags bool) *ecs.CapacityProvider {
	out := &ecs.CapacityProvider{
		CapacityProviderArn:      ecs.Ptr(p.ARN),
		Name:                     ecs.Ptr(p.Name),
		Cluster:                  strPtr(p.Cluster),
		Status:                   ecs.CapacityProviderStatus(p.Status),
		UpdateStatus:             ecs.CapacityProviderUpdateStatus(p.UpdateStatus),
		Type:                     ecs.CapacityProviderType(p.Type),
		AutoScalingGroupProvider: p.AutoScalingGroupProvider,
		Tags:                     []ecs.Tag{},
	}
	if withTags {
		out.Tags = orEmpty(p.Tags)
	}
	return out
}

// validateCapacityProviders checks the capacity providers a cluster is to
// use and its default strategy, as CreateCluster and
// PutClusterCapacityProviders do in ECS.
func (s *Server) validateCapacityProviders(sc scope, names []string, strategy []ecs.CapacityProviderStrategyItem) error {
	fargate, custom := false, false
	for _, name := range names {
		if isBuiltInProvider(name) {
			fargate = true
			continue
		}
		_, p, err := s.findProvider(sc, name)
		if err != nil {
			return err
		}
		if p == nil || p.Status != statusActive {
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
			mixed = mixed || !isBuiltInProvider(ecs.Val(item.CapacityProvider))
		}
		if mixed && slices.ContainsFunc(strategy, func(i ecs.CapacityProviderStrategyItem) bool { return isBuiltInProvider(ecs.Val(i.CapacityProvider)) }) {
			return ecs.NewInvalidParameterException("The capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.")
		}
	}
	return nil
}
