package state

import (
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// Cluster is a cluster as stored. Counts and statistics are not
// stored: they are derived from the instances, tasks and services at read
// time, so they can never drift.
type Cluster struct {
	Schema                          int                                `json:"schema"`
	ARN                             string                             `json:"arn"`
	Name                            string                             `json:"name"`
	Status                          string                             `json:"status"` // ACTIVE or INACTIVE
	CreatedAt                       time.Time                          `json:"createdAt"`
	Tags                            []ecs.Tag                          `json:"tags,omitempty"`
	Settings                        []ecs.ClusterSetting               `json:"settings,omitempty"`
	Configuration                   *ecs.ClusterConfiguration          `json:"configuration,omitempty"`
	CapacityProviders               []string                           `json:"capacityProviders,omitempty"`
	DefaultCapacityProviderStrategy []ecs.CapacityProviderStrategyItem `json:"defaultCapacityProviderStrategy,omitempty"`
	ServiceConnectDefaults          *ecs.ClusterServiceConnectDefaults `json:"serviceConnectDefaults,omitempty"`
}

const ClusterSchema = 1

const (
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
)

// DefaultClusterName is the cluster an operation uses when none is named.
const DefaultClusterName = "default"
