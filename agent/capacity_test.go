package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// TestTheAgentRegistersAsItsKind registers `berth agent` hosts of each
// kind with a real server: each says in its registration what it is, and
// Fargate capacity is left out of the cluster's instance list.
func TestTheAgentRegistersAsItsKind(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("kinds")}); err != nil {
		t.Fatal(err)
	}
	register := func(capacity string) string {
		a := &Agent{log: slog.New(slog.NewTextHandler(io.Discard, nil)), api: c, cfg: Config{
			Server: srv.Endpoint(), Cluster: "kinds", DataDir: t.TempDir(), Capacity: capacity,
			Credentials: aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey},
		}}
		if err := a.register(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		return a.instance
	}
	ec2, external, fargate := register(CapacityEC2), register(CapacityExternal), register(CapacityFargate)

	d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("kinds"), ContainerInstances: []string{ec2, external, fargate}})
	if err != nil || len(d.ContainerInstances) != 3 {
		t.Fatalf("%v %v", d, err)
	}
	has := func(i int, name string) bool {
		for _, a := range d.ContainerInstances[i].Attributes {
			if aws.ToString(a.Name) == name {
				return true
			}
		}
		return false
	}
	if has(0, "ecs.capability.external") || !has(1, "ecs.capability.external") {
		t.Errorf("only the external host claims ecs.capability.external")
	}
	if aws.ToString(d.ContainerInstances[2].CapacityProviderName) != "FARGATE" || d.ContainerInstances[0].CapacityProviderName != nil {
		t.Errorf("capacity providers %v, %v", d.ContainerInstances[0].CapacityProviderName, aws.ToString(d.ContainerInstances[2].CapacityProviderName))
	}
	list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("kinds")})
	if err != nil || len(list.ContainerInstanceArns) != 2 {
		t.Fatalf("listed %v (%v): Fargate capacity is not listed", list, err)
	}
	for _, arn := range list.ContainerInstanceArns {
		if arn == fargate {
			t.Fatalf("Fargate capacity %s listed", arn)
		}
	}
}

func TestParseCapacity(t *testing.T) {
	for in, want := range map[string]string{"": "EC2", "ec2": "EC2", "External": "EXTERNAL", "FARGATE": "FARGATE"} {
		if got, err := ParseCapacity(in); err != nil || got != want {
			t.Errorf("ParseCapacity(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseCapacity("spot"); err == nil {
		t.Error("ParseCapacity(spot) accepted")
	}
}
