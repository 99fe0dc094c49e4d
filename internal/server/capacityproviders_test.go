package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func TestCapacityProviders(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	asg := &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String("arn:aws:autoscaling:us-east-1:" + account + ":autoScalingGroup:1:autoScalingGroupName/web")}

	t.Run("FARGATE and FARGATE_SPOT are always there", func(t *testing.T) {
		out, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CapacityProviders) != 2 || aws.ToString(out.CapacityProviders[0].Name) != "FARGATE" || out.CapacityProviders[1].Status != types.CapacityProviderStatusActive {
			t.Fatalf("built-in providers %+v", out.CapacityProviders)
		}
	})

	t.Run("CreateCapacityProvider fills in ECS's scaling defaults", func(t *testing.T) {
		out, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("web-asg"), AutoScalingGroupProvider: asg,
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}}})
		if err != nil {
			t.Fatal(err)
		}
		p := out.CapacityProvider
		if aws.ToString(p.CapacityProviderArn) != "arn:aws:ecs:us-east-1:"+account+":capacity-provider/web-asg" || p.Status != types.CapacityProviderStatusActive {
			t.Fatalf("provider %+v", p)
		}
		ms := p.AutoScalingGroupProvider.ManagedScaling
		if ms.Status != types.ManagedScalingStatusDisabled || aws.ToInt32(ms.TargetCapacity) != 100 || p.AutoScalingGroupProvider.ManagedTerminationProtection != types.ManagedTerminationProtectionDisabled {
			t.Fatalf("scaling defaults %+v", p.AutoScalingGroupProvider)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		_, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("web-asg"), AutoScalingGroupProvider: asg})
		wantAPIError(t, err, "ClientException", "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
		_, err = c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("FargateMine"), AutoScalingGroupProvider: asg})
		wantAPIError(t, err, "InvalidParameterException", "The specified capacity provider name is invalid. Capacity provider names cannot be prefixed with 'aws', 'ecs', or 'fargate'.")
		_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"nope"}})
		wantAPIError(t, err, "InvalidParameterException", "The specified capacity provider 'nope' does not exist or is not ACTIVE. Specify a valid capacity provider and try again.")
		_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"FARGATE"},
			DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}})
		wantAPIError(t, err, "InvalidParameterException", "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"x"}})
		if err != nil || len(d.Failures) != 1 {
			t.Fatalf("a refused CreateCluster left a cluster behind: %+v %v", d, err)
		}
	})

	t.Run("a provider in use by a cluster cannot be deleted", func(t *testing.T) {
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("web"), CapacityProviders: []string{"web-asg", "FARGATE"},
			DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("web-asg"), Weight: 1, Base: 1}}}); err != nil {
			t.Fatal(err)
		}
		_, err := c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("web-asg")})
		wantAPIError(t, err, "ClientException", "")
		if _, err := c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("web"), CapacityProviders: []string{}, DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("web-asg")})
		if err != nil {
			t.Fatal(err)
		}
		if out.CapacityProvider.Status != types.CapacityProviderStatusInactive || out.CapacityProvider.UpdateStatus != types.CapacityProviderUpdateStatusDeleteComplete {
			t.Fatalf("deleted provider %+v", out.CapacityProvider)
		}
		_, err = c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("FARGATE")})
		wantAPIError(t, err, "ClientException", "")
	})

	t.Run("UpdateCapacityProvider, Describe with tags and paging, and a restart", func(t *testing.T) {
		if _, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("batch"), AutoScalingGroupProvider: asg,
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("batch")}}}); err != nil {
			t.Fatal(err)
		}
		up, err := c.UpdateCapacityProvider(ctx, &ecs.UpdateCapacityProviderInput{Name: aws.String("batch"),
			AutoScalingGroupProvider: &types.AutoScalingGroupProviderUpdate{ManagedDraining: types.ManagedDrainingDisabled}})
		if err != nil {
			t.Fatal(err)
		}
		if up.CapacityProvider.AutoScalingGroupProvider.ManagedDraining != types.ManagedDrainingDisabled || up.CapacityProvider.UpdateStatus != types.CapacityProviderUpdateStatusUpdateComplete {
			t.Fatalf("updated %+v", up.CapacityProvider)
		}
		srv.Restart()
		c = srv.Client()
		var names []string
		var token *string
		for {
			out, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{MaxResults: aws.Int32(2), NextToken: token, Include: []types.CapacityProviderField{types.CapacityProviderFieldTags}})
			if err != nil {
				t.Fatal(err)
			}
			for _, cp := range out.CapacityProviders {
				names = append(names, aws.ToString(cp.Name))
				if aws.ToString(cp.Name) == "batch" && len(cp.Tags) != 1 {
					t.Fatalf("batch tags %+v", cp.Tags)
				}
			}
			if token = out.NextToken; token == nil {
				break
			}
		}
		if len(names) != 4 { // FARGATE, FARGATE_SPOT, batch, web-asg (INACTIVE, still describable)
			t.Fatalf("providers %v", names)
		}
		out, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"batch", "ghost"}})
		if err != nil || len(out.CapacityProviders) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Fatalf("describe by name %+v %v", out, err)
		}
	})
}
