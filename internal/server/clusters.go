package server

import (
	"context"
	"regexp"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

var clusterNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

func (s *Server) CreateCluster(ctx context.Context, in *ecs.CreateClusterRequest) (*ecs.CreateClusterResponse, error) {
	sc := scopeOf(ctx)
	name := state.DefaultClusterName
	if in.ClusterName != nil {
		name = *in.ClusterName
	}
	if !clusterNamePattern.MatchString(name) {
		return nil, ecs.NewInvalidParameterException("Cluster name is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	if err := s.validateCapacityProviders(sc, in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return nil, err
	}

	key := sc.Key(state.KindCluster, name)
	var result *state.Cluster
	err := s.update(ctx, func() ([]store.Op, error) {
		o, found := s.store.Get(key)
		if found {
			existing, err := decode[state.Cluster](s, o)
			if err != nil {
				return nil, err
			}
			if existing.Status == state.StatusActive {
				// ECS answers a CreateCluster for an existing name with that cluster.
				result = existing
				return nil, nil
			}
		}
		guard, err := s.clusterQuotaGuard(sc)
		if err != nil {
			return nil, err
		}
		c := &state.Cluster{
			Schema:                          state.ClusterSchema,
			ARN:                             sc.ARN("cluster/" + name),
			Name:                            name,
			Status:                          state.StatusActive,
			CreatedAt:                       s.now().UTC(),
			Tags:                            in.Tags,
			Settings:                        withDefaultClusterSettings(s.accountSetting(sc, ecs.SettingNameContainerInsights), in.Settings),
			Configuration:                   in.Configuration,
			CapacityProviders:               in.CapacityProviders,
			DefaultCapacityProviderStrategy: in.DefaultCapacityProviderStrategy,
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = &ecs.ClusterServiceConnectDefaults{Namespace: in.ServiceConnectDefaults.Namespace}
		}
		result = c
		if found {
			return []store.Op{store.Put(key, c, o.Rev), guard}, nil
		}
		return []store.Op{store.Create(key, c), guard}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.CreateClusterResponse{Cluster: s.clusterView(sc, result, allClusterFields)}, nil
}

func (s *Server) DescribeClusters(ctx context.Context, in *ecs.DescribeClustersRequest) (*ecs.DescribeClustersResponse, error) {
	sc := scopeOf(ctx)
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{state.DefaultClusterName}
	}
	if len(refs) > 100 {
		return nil, ecs.NewInvalidParameterException("clusters can have at most 100 items.")
	}
	include := map[ecs.ClusterField]bool{}
	for _, f := range in.Include {
		include[f] = true
	}
	out := &ecs.DescribeClustersResponse{Clusters: []ecs.Cluster{}, Failures: []ecs.Failure{}}
	for _, ref := range refs {
		_, c, err := s.state.Cluster(sc, ref)
		if err != nil {
			return nil, err
		}
		if c == nil {
			out.Failures = append(out.Failures, ecs.Failure{Arn: ecs.Ptr(clusterARNFor(sc, ref)), Reason: ecs.Ptr("MISSING")})
			continue
		}
		out.Clusters = append(out.Clusters, *s.clusterView(sc, c, include))
	}
	return out, nil
}

// clusterARNFor is the ARN a Describe failure reports for a reference.
func clusterARNFor(sc state.Scope, ref string) string {
	if state.IsARN(ref) {
		return ref
	}
	return sc.ARN("cluster/" + ref)
}

func (s *Server) ListClusters(ctx context.Context, in *ecs.ListClustersRequest) (*ecs.ListClustersResponse, error) {
	sc := scopeOf(ctx)
	p, err := s.listPage(sc.Prefix(state.KindCluster), in.NextToken, in.MaxResults, 100, func(o *store.Object) bool {
		c, err := decode[state.Cluster](s, o)
		return err == nil && c.Status == state.StatusActive
	})
	if err != nil {
		return nil, err
	}
	out := &ecs.ListClustersResponse{ClusterArns: []string{}, NextToken: p.nextToken}
	for _, o := range p.objects {
		c, err := decode[state.Cluster](s, o)
		if err != nil {
			return nil, err
		}
		out.ClusterArns = append(out.ClusterArns, c.ARN)
	}
	return out, nil
}

func (s *Server) UpdateCluster(ctx context.Context, in *ecs.UpdateClusterRequest) (*ecs.UpdateClusterResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := s.changeCluster(ctx, in.Cluster, func(c *state.Cluster) error {
		if in.Settings != nil {
			c.Settings = mergeClusterSettings(c.Settings, in.Settings)
		}
		if in.Configuration != nil {
			c.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = &ecs.ClusterServiceConnectDefaults{Namespace: in.ServiceConnectDefaults.Namespace}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.UpdateClusterResponse{Cluster: s.clusterView(scopeOf(ctx), c, allClusterFields)}, nil
}

func (s *Server) UpdateClusterSettings(ctx context.Context, in *ecs.UpdateClusterSettingsRequest) (*ecs.UpdateClusterSettingsResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := s.changeCluster(ctx, in.Cluster, func(c *state.Cluster) error {
		c.Settings = mergeClusterSettings(c.Settings, in.Settings)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.UpdateClusterSettingsResponse{Cluster: s.clusterView(scopeOf(ctx), c, allClusterFields)}, nil
}

func (s *Server) PutClusterCapacityProviders(ctx context.Context, in *ecs.PutClusterCapacityProvidersRequest) (*ecs.PutClusterCapacityProvidersResponse, error) {
	sc := scopeOf(ctx)
	if err := s.validateCapacityProviders(sc, in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return nil, err
	}
	c, err := s.changeCluster(ctx, in.Cluster, func(c *state.Cluster) error {
		c.CapacityProviders = in.CapacityProviders
		c.DefaultCapacityProviderStrategy = in.DefaultCapacityProviderStrategy
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.PutClusterCapacityProvidersResponse{Cluster: s.clusterView(sc, c, allClusterFields)}, nil
}

func (s *Server) DeleteCluster(ctx context.Context, in *ecs.DeleteClusterRequest) (*ecs.DeleteClusterResponse, error) {
	sc := scopeOf(ctx)
	c, err := s.changeCluster(ctx, in.Cluster, func(c *state.Cluster) error {
		// The same checks, in the same order, as ECS.
		if s.clusterServiceCount(sc, c.Name, true) > 0 {
			return ecs.NewClusterContainsServicesException("The Cluster cannot be deleted while Services are active.")
		}
		if s.clusterInstanceCount(sc, c.Name) > 0 {
			return ecs.NewClusterContainsContainerInstancesException("The Cluster cannot be deleted while Container Instances are active or draining.")
		}
		if s.clusterActiveTaskCount(sc, c.Name) > 0 {
			return ecs.NewClusterContainsTasksException("The Cluster cannot be deleted while Tasks are active.")
		}
		c.Status = state.StatusInactive
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecs.DeleteClusterResponse{Cluster: s.clusterView(sc, c, allClusterFields)}, nil
}

// changeCluster applies change to a private copy of an ACTIVE cluster and
// writes it back, retrying from fresh state on a conflicting write. An error
// from change aborts with nothing written.
func (s *Server) changeCluster(ctx context.Context, ref *string, change func(*state.Cluster) error) (*state.Cluster, error) {
	sc := scopeOf(ctx)
	var result *state.Cluster
	err := s.update(ctx, func() ([]store.Op, error) {
		o, _, err := s.state.ActiveCluster(sc, ecs.Val(ref))
		if err != nil {
			return nil, err
		}
		c, err := decodeCopy[state.Cluster](s, o)
		if err != nil {
			return nil, err
		}
		if err := change(c); err != nil {
			return nil, err
		}
		result = c
		return []store.Op{store.Put(o.Key, c, o.Rev)}, nil
	})
	return result, err
}

var allClusterFields = map[ecs.ClusterField]bool{
	ecs.ClusterFieldTags: true, ecs.ClusterFieldSettings: true, ecs.ClusterFieldConfigurations: true,
}

// clusterView is the cluster as the API shows it, with the optional parts
// that include asks for. Create, Update and Delete answer with settings,
// configuration and tags, as ECS does.
func (s *Server) clusterView(sc state.Scope, c *state.Cluster, include map[ecs.ClusterField]bool) *ecs.Cluster {
	out := &ecs.Cluster{
		ClusterArn:                        ecs.Ptr(c.ARN),
		ClusterName:                       ecs.Ptr(c.Name),
		Status:                            ecs.Ptr(c.Status),
		RegisteredContainerInstancesCount: ecs.Ptr(int32(0)),
		RunningTasksCount:                 ecs.Ptr(int32(0)),
		PendingTasksCount:                 ecs.Ptr(int32(0)),
		ActiveServicesCount:               ecs.Ptr(int32(0)),
		CapacityProviders:                 c.CapacityProviders,
		DefaultCapacityProviderStrategy:   c.DefaultCapacityProviderStrategy,
		ServiceConnectDefaults:            c.ServiceConnectDefaults,
	}
	if c.Status == state.StatusActive {
		out.RegisteredContainerInstancesCount = ecs.Ptr(int32(s.clusterInstanceCount(sc, c.Name)))
		out.RunningTasksCount = ecs.Ptr(int32(s.clusterTaskCount(sc, c.Name, "RUNNING")))
		out.PendingTasksCount = ecs.Ptr(int32(s.clusterTaskCount(sc, c.Name, "PENDING")))
		out.ActiveServicesCount = ecs.Ptr(int32(s.clusterServiceCount(sc, c.Name, false)))
	}
	if include[ecs.ClusterFieldTags] {
		out.Tags = c.Tags
	}
	if include[ecs.ClusterFieldSettings] {
		out.Settings = c.Settings
	}
	if include[ecs.ClusterFieldConfigurations] {
		out.Configuration = c.Configuration
	}
	if include[ecs.ClusterFieldStatistics] {
		out.Statistics = s.clusterStatistics(sc, c)
	}
	return out
}

// clusterStatistics are the per-launch-type counts ECS reports with
// include=STATISTICS, each of the tasks of its launch type.
func (s *Server) clusterStatistics(sc state.Scope, c *state.Cluster) []ecs.KeyValuePair {
	stat := func(name string, n int) ecs.KeyValuePair {
		return ecs.KeyValuePair{Name: ecs.Ptr(name), Value: ecs.Ptr(itoa(n))}
	}
	return []ecs.KeyValuePair{
		stat("runningEC2TasksCount", s.clusterLaunchTaskCount(sc, c.Name, "RUNNING", ecs.LaunchTypeEc2)),
		stat("runningFargateTasksCount", s.clusterLaunchTaskCount(sc, c.Name, "RUNNING", ecs.LaunchTypeFargate)),
		stat("pendingEC2TasksCount", s.clusterLaunchTaskCount(sc, c.Name, "PENDING", ecs.LaunchTypeEc2)),
		stat("pendingFargateTasksCount", s.clusterLaunchTaskCount(sc, c.Name, "PENDING", ecs.LaunchTypeFargate)),
		stat("runningExternalTasksCount", s.clusterLaunchTaskCount(sc, c.Name, "RUNNING", ecs.LaunchTypeExternal)),
		stat("pendingExternalTasksCount", s.clusterLaunchTaskCount(sc, c.Name, "PENDING", ecs.LaunchTypeExternal)),
		stat("activeEC2ServiceCount", s.clusterServiceCount(sc, c.Name, false)),
		stat("activeFargateServiceCount", 0),
		stat("drainingEC2ServiceCount", 0),
		stat("drainingFargateServiceCount", 0),
	}
}

// clusterServiceCount counts the cluster's ACTIVE services; with
// draining, those being deleted too (they still hold tasks).
func (s *Server) clusterServiceCount(sc state.Scope, cluster string, draining bool) int {
	n := 0
	for _, o := range s.store.List(sc.Prefix(state.KindService)+cluster+"/", "", 0) {
		if r, err := decode[state.Service](s, o); err == nil && (r.Status == state.StatusActive || draining && r.Status == state.StatusDraining) {
			n++
		}
	}
	return n
}

// Cluster settings: containerInsights is the only one, with ECS's values.
var containerInsightsValues = map[string]bool{"enabled": true, "disabled": true, "enhanced": true}

func validateClusterSettings(settings []ecs.ClusterSetting) error {
	for _, st := range settings {
		if st.Name != ecs.ClusterSettingNameContainerInsights {
			return ecs.NewInvalidParameterException("Invalid setting name %q. Valid values are: containerInsights.", string(st.Name))
		}
		if !containerInsightsValues[ecs.Val(st.Value)] {
			return ecs.NewInvalidParameterException("Invalid value %q for setting containerInsights. Valid values are: enabled, disabled, enhanced.", ecs.Val(st.Value))
		}
	}
	return nil
}

// withDefaultClusterSettings fills in containerInsights from the account
// setting of that name, as ECS does for a cluster created without it.
func withDefaultClusterSettings(insights string, settings []ecs.ClusterSetting) []ecs.ClusterSetting {
	return mergeClusterSettings([]ecs.ClusterSetting{{Name: ecs.ClusterSettingNameContainerInsights, Value: ecs.Ptr(insights)}}, settings)
}

func mergeClusterSettings(old, changes []ecs.ClusterSetting) []ecs.ClusterSetting {
	out := append([]ecs.ClusterSetting(nil), old...)
	for _, ch := range changes {
		replaced := false
		for i := range out {
			if out[i].Name == ch.Name {
				out[i] = ch
				replaced = true
			}
		}
		if !replaced {
			out = append(out, ch)
		}
	}
	return out
}

// orEmpty turns nil into an empty slice: ECS sends [] rather than leaving
// such lists out.
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
