package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/store"
)

// Two servers on one external etcd are two replicas of one control plane:
// what one writes, the other serves from its own watch-fed view.
func TestReplicasShareAnExternalEtcd(t *testing.T) {
	ctx := context.Background()
	etcd, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	a := berthtest.Start(t, berthtest.WithEtcdEndpoints(etcd.Endpoints()))
	b := berthtest.Start(t, berthtest.WithEtcdEndpoints(etcd.Endpoints()))

	if _, err := a.Client().CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := b.Client().DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"shared"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Clusters) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second replica never saw the cluster written through the first")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And a conflicting write through the other replica is decided by etcd:
	// CreateCluster of the same name answers the one existing cluster.
	out, err := b.Client().CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("shared")})
	if err != nil || aws.ToString(out.Cluster.Status) != "ACTIVE" {
		t.Fatalf("%v %v", out, err)
	}
}
