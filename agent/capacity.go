package agent

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The kinds of capacity a host registers as. ECS keeps each launch type on
// its own kind: EC2 tasks on EC2 instances, EXTERNAL tasks on ECS Anywhere
// instances (which the stock agent marks with ecs.capability.external when
// ECS_EXTERNAL=true), FARGATE and FARGATE_SPOT tasks on Fargate. Berth's
// control plane knows Fargate capacity by its berth.capacity-provider
// attribute and hides it from the cluster's instance lists.
const (
	CapacityEC2      = "EC2"
	CapacityExternal = "EXTERNAL"
	CapacityFargate  = "FARGATE"
)

// ParseCapacity reads a --capacity value, in any case.
func ParseCapacity(s string) (string, error) {
	switch v := strings.ToUpper(strings.TrimSpace(s)); v {
	case "", CapacityEC2:
		return CapacityEC2, nil
	case CapacityExternal, CapacityFargate:
		return v, nil
	}
	return "", fmt.Errorf("--capacity must be EC2, EXTERNAL or FARGATE, not %q", s)
}

func capacityOf(cfg Config) string {
	if cfg.Capacity == "" {
		return CapacityEC2
	}
	return cfg.Capacity
}

// capacityAttributes are the attributes that say the host's kind: none for
// EC2, the capability the stock agent claims in external mode, or the
// designation of Fargate capacity (unless custom attributes designate it).
func capacityAttributes(cfg Config) []types.Attribute {
	switch capacityOf(cfg) {
	case CapacityExternal:
		return []types.Attribute{{Name: aws.String("ecs.capability.external")}}
	case CapacityFargate:
		if _, set := cfg.Attributes["berth.capacity-provider"]; set {
			return nil
		}
		return []types.Attribute{{Name: aws.String("berth.capacity-provider"), Value: aws.String("FARGATE")}}
	}
	return nil
}
