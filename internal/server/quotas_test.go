package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/server"
)

// ECS's service quotas that keep one account from filling the store every
// account shares: a call over one is refused with ECS's exception and
// writes nothing; an operator's smaller quota takes effect; and calls
// racing at a quota stop exactly at it.

func busyboxTaskDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{
		{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)},
	}}
}

func TestECSDefaultQuotasHold(t *testing.T) {
	ctx := context.Background()
	c := berthtest.Start(t).Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("q")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, busyboxTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	t.Run("a desiredCount over 5,000 tasks per service is refused", func(t *testing.T) {
		_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("q"), ServiceName: aws.String("huge"),
			TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2147483647)})
		wantAPIError(t, err, "InvalidParameterException", "The desired count 2147483647 is more than the quota of 5000 tasks per service.")
		out, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("q")})
		if err != nil || len(out.ServiceArns) != 0 {
			t.Fatalf("services after the refusal: %v (%v)", out.ServiceArns, err)
		}
	})
	t.Run("5,000 itself is accepted", func(t *testing.T) {
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("q"), ServiceName: aws.String("big"),
			TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(5000)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("q"), Service: aws.String("big"), DesiredCount: aws.Int32(5001)})
		wantAPIError(t, err, "InvalidParameterException", "The desired count 5001 is more than the quota of 5000 tasks per service.")
	})
}

func TestConfiguredQuotasRefuseWhatWouldExceedThem(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithQuotas(server.Quotas{
		ClustersPerAccount: 2, ContainerInstancesPerCluster: 2, ServicesPerCluster: 2, TasksPerService: 10, RevisionsPerFamily: 3,
	}))
	c := srv.Client()

	t.Run("clusters per account", func(t *testing.T) {
		for _, name := range []string{"one", "two"} {
			if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("three")})
		wantAPIError(t, err, "ClientException", "Too many clusters: the account has reached its quota of 2 clusters in this Region.")
		d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"three"}})
		if err != nil || len(d.Clusters) != 0 {
			t.Fatalf("the refused cluster exists: %+v (%v)", d.Clusters, err)
		}
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("two")}); err != nil {
			t.Fatalf("creating an existing cluster again, which answers it: %v", err)
		}
		if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("two")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("three")}); err != nil {
			t.Fatalf("a deleted cluster no longer counts: %v", err)
		}
	})

	t.Run("container instances per cluster", func(t *testing.T) {
		var first string
		for i := 0; i < 2; i++ {
			out, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("one")})
			if err != nil {
				t.Fatal(err)
			}
			first = aws.ToString(out.ContainerInstance.ContainerInstanceArn)
		}
		_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("one")})
		wantAPIError(t, err, "ClientException", "Too many container instances: the cluster has reached its quota of 2 container instances.")
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("one")})
		if err != nil || len(l.ContainerInstanceArns) != 2 {
			t.Fatalf("instances after the refusal: %v (%v)", l.ContainerInstanceArns, err)
		}
		if _, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("one"), ContainerInstanceArn: aws.String(first)}); err != nil {
			t.Fatalf("a re-registration adds no instance and is accepted: %v", err)
		}
	})

	t.Run("revisions per family, deregistered ones included", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if _, err := c.RegisterTaskDefinition(ctx, busyboxTaskDef("web")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.RegisterTaskDefinition(ctx, busyboxTaskDef("web"))
		wantAPIError(t, err, "LimitExceededException", "The task definition family web has reached its quota of 3 revisions. Deregistered revisions count towards it.")
		for _, status := range []types.TaskDefinitionStatus{types.TaskDefinitionStatusActive, types.TaskDefinitionStatusInactive} {
			l, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web"), Status: status})
			if err != nil || len(l.TaskDefinitionArns) > 2 {
				t.Fatalf("%s revisions after the refusal: %v (%v)", status, l.TaskDefinitionArns, err)
			}
		}
		if _, err := c.RegisterTaskDefinition(ctx, busyboxTaskDef("other")); err != nil {
			t.Fatalf("another family has its own quota: %v", err)
		}
	})

	t.Run("services per cluster and tasks per service", func(t *testing.T) {
		_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("one"), ServiceName: aws.String("s0"),
			TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(11)})
		wantAPIError(t, err, "InvalidParameterException", "The desired count 11 is more than the quota of 10 tasks per service.")
		for _, name := range []string{"s1", "s2"} {
			if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("one"), ServiceName: aws.String(name),
				TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(10)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("one"), ServiceName: aws.String("s3"), TaskDefinition: aws.String("web")})
		wantAPIError(t, err, "ClientException", "Too many services: the cluster has reached its quota of 2 services.")
		_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("one"), Service: aws.String("s1"), DesiredCount: aws.Int32(11)})
		wantAPIError(t, err, "InvalidParameterException", "The desired count 11 is more than the quota of 10 tasks per service.")
		d, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("one"), Services: []string{"s0", "s1", "s3"}})
		if err != nil || len(d.Services) != 1 || d.Services[0].DesiredCount != 10 {
			t.Fatalf("services after the refusals: %+v (%v)", d.Services, err)
		}
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("three"), ServiceName: aws.String("s3"), TaskDefinition: aws.String("web")}); err != nil {
			t.Fatalf("another cluster has its own quota: %v", err)
		}
	})
}

// Creations racing at a quota: exactly the quota's worth succeed, however
// they interleave, because each one's write conflicts with every other
// counted against the same quota.
func TestConcurrentCreationsStopAtTheQuota(t *testing.T) {
	const quota, callers = 3, 12
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithQuotas(server.Quotas{ClustersPerAccount: quota + 1, ContainerInstancesPerCluster: quota, ServicesPerCluster: quota}))
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("race")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, busyboxTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	race := func(t *testing.T, call func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() { errs[i] = call(i) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if code, _ := apiErrorCode(err); code != "ClientException" {
				t.Fatalf("a refused creation: %v, want ClientException", err)
			}
		}
		if ok != quota {
			t.Fatalf("%d of %d racing creations succeeded, want the quota, %d", ok, callers, quota)
		}
	}
	t.Run("clusters", func(t *testing.T) {
		race(t, func(i int) error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(fmt.Sprintf("c%d", i))})
			return err
		})
		l, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
		if err != nil || len(l.ClusterArns) != quota+1 {
			t.Fatalf("clusters: %v (%v)", l.ClusterArns, err)
		}
	})
	t.Run("services", func(t *testing.T) {
		race(t, func(i int) error {
			_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("race"), ServiceName: aws.String(fmt.Sprintf("s%d", i)), TaskDefinition: aws.String("web")})
			return err
		})
		l, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("race")})
		if err != nil || len(l.ServiceArns) != quota {
			t.Fatalf("services: %v (%v)", l.ServiceArns, err)
		}
	})
	t.Run("container instances", func(t *testing.T) {
		race(t, func(int) error {
			_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("race")})
			return err
		})
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("race")})
		if err != nil || len(l.ContainerInstanceArns) != quota {
			t.Fatalf("instances: %v (%v)", l.ContainerInstanceArns, err)
		}
	})
}
