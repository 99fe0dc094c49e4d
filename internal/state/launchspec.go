package state

import (
	"reflect"

	"github.com/berth-project/berth/api/ecs"
)

// LaunchSpec is what a service's tasks are launched with. The service keeps
// one (the settings its next deployment takes), each deployment one (what
// its tasks run), each task set one (its placement rules are the
// service's). It is one struct embedded in all three, so a setting added
// here is copied on deploy, compared for a new deployment and restored on
// rollback everywhere at once. Embedded, its members stay at the top level
// of the stored JSON.
type LaunchSpec struct {
	TaskDefinitionARN           string                             `json:"taskDefinitionArn,omitempty"`
	LaunchType                  string                             `json:"launchType,omitempty"`
	CapacityProviderStrategy    []ecs.CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion             string                             `json:"platformVersion,omitempty"`
	NetworkConfiguration        *ecs.NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	PlacementConstraints        []ecs.PlacementConstraint          `json:"placementConstraints,omitempty"`
	PlacementStrategy           []ecs.PlacementStrategy            `json:"placementStrategy,omitempty"`
	LoadBalancers               []ecs.LoadBalancer                 `json:"loadBalancers,omitempty"`
	ServiceRegistries           []ecs.ServiceRegistry              `json:"serviceRegistries,omitempty"`
	ServiceConnectConfiguration *ecs.ServiceConnectConfiguration   `json:"serviceConnectConfiguration,omitempty"`
}

// Equal: the two launch the same tasks. A change to any member is rolled
// out as a new deployment.
func (l *LaunchSpec) Equal(o *LaunchSpec) bool { return reflect.DeepEqual(l, o) }

// Upgrade brings a service record written by an older Berth to
// ServiceSchema. Schema 1 deployments did not keep the Service Connect
// configuration: the best knowledge of what they ran with is the
// service's own. It runs once per decoded record (store.DecodeCopy).
func (r *Service) Upgrade() {
	if r.Schema >= ServiceSchema {
		return
	}
	if r.Schema <= 1 {
		for _, list := range [][]Deployment{r.Deployments, r.History} {
			for i := range list {
				if list[i].ServiceConnectConfiguration == nil {
					list[i].ServiceConnectConfiguration = r.ServiceConnectConfiguration
				}
			}
		}
	}
	r.Schema = ServiceSchema
}
