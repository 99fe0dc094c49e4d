package daemon_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/internal/berthtest"
)

// /metrics is for the operator: after a tenant's calls, successful and
// failed, no series names the tenant's account, cluster or resources.
// (berth_container_* come from internal/acs/metrics.go and are checked
// there.)
func TestOperatorMetricsNameNoTenant(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	const cluster = "tenant-cluster-7f3a"
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{"tenant-service-9c1e"}}); err != nil {
		t.Fatal(err)
	}
	c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("tenant-missing-2b8d")}) // an error code
	resp, err := http.Get(srv.Endpoint() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `berth_api_requests_total{code="ClusterNotFoundException",operation="DeleteCluster"}`) {
		t.Fatalf("the API's series are missing:\n%s", body)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "berth_container_") {
			continue
		}
		for _, tenant := range []string{"123456789012", "tenant-", "arn:"} {
			if strings.Contains(line, tenant) {
				t.Errorf("a series names the tenant (%q): %s", tenant, line)
			}
		}
	}
}
