package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// A Service Connect change is part of what a deployment launches: it rolls
// out as a new deployment, which carries it (DescribeServices and
// DescribeServiceRevisions show it), as every other launch setting does.
func TestServiceConnectChangeStartsADeployment(t *testing.T) {
	ctx := context.Background()
	_, c := serviceFleet(t, "sc", 2)
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("sc"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(2),
		ServiceConnectConfiguration: &types.ServiceConnectConfiguration{Enabled: true, Namespace: aws.String("blue")}}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, c, "sc", "web")
	first := describeService(t, c, "sc", "web")
	if len(first.Deployments) != 1 || first.Deployments[0].ServiceConnectConfiguration == nil ||
		aws.ToString(first.Deployments[0].ServiceConnectConfiguration.Namespace) != "blue" {
		t.Fatalf("first deployment: %+v", first.Deployments)
	}

	out, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("sc"), Service: aws.String("web"),
		ServiceConnectConfiguration: &types.ServiceConnectConfiguration{Enabled: true, Namespace: aws.String("green")}})
	if err != nil {
		t.Fatal(err)
	}
	deps := out.Service.Deployments
	if len(deps) != 2 || aws.ToString(deps[0].Status) != "PRIMARY" || aws.ToString(deps[0].Id) == aws.ToString(first.Deployments[0].Id) {
		t.Fatalf("a Service Connect change started no deployment: %+v", deps)
	}
	if ns := aws.ToString(deps[0].ServiceConnectConfiguration.Namespace); ns != "green" {
		t.Fatalf("new deployment's namespace %q, want green", ns)
	}
	waitStable(t, c, "sc", "web")

	// Changing nothing but the desired count starts none.
	out, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("sc"), Service: aws.String("web"), DesiredCount: aws.Int32(3),
		ServiceConnectConfiguration: &types.ServiceConnectConfiguration{Enabled: true, Namespace: aws.String("green")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Service.Deployments) != 1 {
		t.Fatalf("the same Service Connect configuration started a deployment: %+v", out.Service.Deployments)
	}
}
