package state

import "github.com/berth-project/berth/api/ecs"

// The kinds of capacity an instance offers, named as the launch types that
// run on it: ECS keeps EC2 tasks on EC2 instances, EXTERNAL tasks on ECS
// Anywhere instances, and Fargate tasks on Fargate's own capacity.
const (
	KindEC2      = "EC2"
	KindExternal = "EXTERNAL"
	KindFargate  = "FARGATE"
)

// ExternalAttribute is the capability the stock agent registers with when
// it runs with ECS_EXTERNAL=true (ECS Anywhere); `berth agent --external`
// claims it too.
const ExternalAttribute = "ecs.capability.external"

// CapacityKind is the kind of capacity an instance offers. Fargate capacity
// is an instance designated with CapacityProviderAttribute FARGATE or
// FARGATE_SPOT (what `berth agent --fargate` registers); it is hidden from
// the cluster's instance lists, as ECS shows no instances for Fargate.
func CapacityKind(inst *Instance) string {
	switch {
	case IsBuiltInProvider(inst.CapacityProviderName):
		return KindFargate
	case hasAttribute(inst.Attributes, ExternalAttribute):
		return KindExternal
	}
	return KindEC2
}

// IsFargateCapacity: the instance offers Fargate capacity, not an instance
// of the cluster.
func IsFargateCapacity(inst *Instance) bool { return CapacityKind(inst) == KindFargate }

// TakesProvider says whether Fargate capacity designated for provider cp
// takes tasks of the built-in provider want: FARGATE capacity (the local
// host of `berth agent --fargate` and `berth dev`) takes both FARGATE and
// FARGATE_SPOT tasks, capacity designated FARGATE_SPOT only spot tasks.
func TakesProvider(cp, want string) bool {
	return cp == want || (cp == "FARGATE" && want == "FARGATE_SPOT")
}

func hasAttribute(attrs []ecs.Attribute, name string) bool {
	for _, a := range attrs {
		if ecs.Val(a.Name) == name {
			return true
		}
	}
	return false
}

// What a Fargate task shows of its platform. LATEST resolves to the one
// platform version Berth offers, 1.4.0, ECS's LATEST for Linux.
const (
	FargatePlatformLatest  = "LATEST"
	FargatePlatformVersion = "1.4.0"
	FargatePlatformFamily  = "Linux"
	// FargateEphemeralStorageGiB is Fargate's default task storage.
	FargateEphemeralStorageGiB = 20
)

// FargatePlatformVersions are the platform versions a Fargate launch may
// name (LATEST is 1.4.0).
var FargatePlatformVersions = []string{FargatePlatformLatest, FargatePlatformVersion}

// Platform is what a Fargate task records of the platform it runs on.
type Platform struct {
	Version             string `json:"platformVersion,omitempty"`
	Family              string `json:"platformFamily,omitempty"`
	EphemeralStorageGiB int32  `json:"ephemeralStorageGiB,omitempty"`
}

// FargatePlatform is the platform of a Fargate task of def: the version
// resolved, and the definition's ephemeral storage or Fargate's default.
func FargatePlatform(def *ecs.TaskDefinition) Platform {
	p := Platform{Version: FargatePlatformVersion, Family: FargatePlatformFamily, EphemeralStorageGiB: FargateEphemeralStorageGiB}
	if def.EphemeralStorage != nil && ecs.Val(def.EphemeralStorage.SizeInGiB) > 0 {
		p.EphemeralStorageGiB = ecs.Val(def.EphemeralStorage.SizeInGiB)
	}
	return p
}
