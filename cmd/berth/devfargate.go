package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/agent"
)

// berth dev's Fargate capacity: a second agent on the same Docker Engine,
// registered as Fargate capacity (hidden from the cluster's instances), so
// FARGATE and FARGATE_SPOT tasks and services run with no setup. The two
// agents register as two instances and each adopts only its own
// containers; both offer the whole host (see docs/compatibility.md).
func runDevFargate(ctx context.Context, done chan<- error, cfg agent.Config) {
	if err := agent.RunFargate(ctx, cfg); err != nil {
		select {
		case done <- err:
		default: // the other agent's error is already told
		}
	}
}

// devFargateInstance is the emulator's Fargate capacity in the default
// cluster, served by a simulated agent like the emulated instance.
func devFargateInstance() *ecs.RegisterContainerInstanceInput {
	return &ecs.RegisterContainerInstanceInput{Cluster: aws.String("default"), Attributes: []types.Attribute{
		{Name: aws.String("berth.capacity-provider"), Value: aws.String("FARGATE")},
		{Name: aws.String("ecs.capability.task-eni")}, // the emulator runs awsvpc tasks: it runs nothing
	}}
}
