package state

import (
	"slices"

	"github.com/berth-project/berth/api/ecs"
)

// CapacityProvider is a custom capacity provider as stored.
type CapacityProvider struct {
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

var BuiltInProviders = []string{"FARGATE", "FARGATE_SPOT"}

// IsBuiltInProvider: FARGATE or FARGATE_SPOT, which run on the instances
// designated for them (see docs/compatibility.md).
func IsBuiltInProvider(name string) bool { return slices.Contains(BuiltInProviders, name) }
