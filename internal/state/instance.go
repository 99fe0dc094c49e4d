package state

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// Instance is a container instance as stored. Deregistered instances
// stay stored as INACTIVE, describable as in ECS.
type Instance struct {
	Schema               int                                `json:"schema"`
	ARN                  string                             `json:"arn"`
	ID                   string                             `json:"id"`
	Cluster              string                             `json:"cluster"`
	Status               string                             `json:"status"` // ACTIVE, DRAINING or INACTIVE
	StatusReason         string                             `json:"statusReason,omitempty"`
	EC2InstanceID        string                             `json:"ec2InstanceId,omitempty"`
	CapacityProviderName string                             `json:"capacityProviderName,omitempty"`
	Version              int64                              `json:"version"` // bumped on every change, as ECS's is
	VersionInfo          ecs.VersionInfo                    `json:"versionInfo"`
	RegisteredAt         time.Time                          `json:"registeredAt"`
	DeregisteredAt       *time.Time                         `json:"deregisteredAt,omitempty"`
	RegisteredResources  []ecs.Resource                     `json:"registeredResources,omitempty"`
	RemainingResources   []ecs.Resource                     `json:"remainingResources,omitempty"`
	Attributes           []ecs.Attribute                    `json:"attributes,omitempty"` // name and value only
	PlatformDevices      []ecs.PlatformDevice               `json:"platformDevices,omitempty"`
	AgentConnected       bool                               `json:"agentConnected"`
	AgentSession         string                             `json:"agentSession,omitempty"`        // the ACS session that set AgentConnected
	AgentDisconnectedAt  *time.Time                         `json:"agentDisconnectedAt,omitempty"` // when its agent's session ended; nil while connected
	AgentUpdateStatus    ecs.AgentUpdateStatus              `json:"agentUpdateStatus,omitempty"`
	Attachments          []ecs.Attachment                   `json:"attachments,omitempty"`
	Health               *ecs.ContainerInstanceHealthStatus `json:"health,omitempty"`
	Tags                 []ecs.Tag                          `json:"tags,omitempty"`
}

const InstanceSchema = 1

const StatusDraining = "DRAINING"

// CapacityProviderAttribute, set when an instance registers, puts it in a
// capacity provider; FARGATE and FARGATE_SPOT designate capacity for Fargate.
const CapacityProviderAttribute = "berth.capacity-provider"

// NewInstanceID is a fresh container instance id: 32 hex digits, the form
// ECS uses today.
func NewInstanceID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AttributeValue is the value of the named attribute, "" when absent.
func AttributeValue(attrs []ecs.Attribute, name string) string {
	for _, a := range attrs {
		if ecs.Val(a.Name) == name {
			return ecs.Val(a.Value)
		}
	}
	return ""
}
