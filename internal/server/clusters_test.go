package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

const account = auth.DefaultAccountID

func clusterARN(name string) string {
	return "arn:aws:ecs:us-east-1:" + account + ":cluster/" + name
}

// wantAPIError fails the test unless err is the ECS exception code with
// exactly the message msg ("" accepts any message).
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	if msg != "" && apiErr.ErrorMessage() != msg {
		t.Fatalf("%s message:\n got %q\nwant %q", code, apiErr.ErrorMessage(), msg)
	}
}

func TestClusters(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()

	t.Run("CreateCluster without a name creates the default cluster", func(t *testing.T) {
		out, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Cluster.ClusterArn) != clusterARN("default") || aws.ToString(out.Cluster.Status) != "ACTIVE" {
			t.Fatalf("cluster %+v", out.Cluster)
		}
	})

	t.Run("CreateCluster echoes tags and settings with containerInsights defaulted", func(t *testing.T) {
		out, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{
			ClusterName: aws.String("web"),
			Tags:        []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		cl := out.Cluster
		if len(cl.Tags) != 1 || aws.ToString(cl.Tags[0].Key) != "env" {
			t.Fatalf("tags %+v", cl.Tags)
		}
		if len(cl.Settings) != 1 || cl.Settings[0].Name != types.ClusterSettingNameContainerInsights || aws.ToString(cl.Settings[0].Value) != "disabled" {
			t.Fatalf("settings %+v", cl.Settings)
		}
	})

	t.Run("CreateCluster of an existing name answers the existing cluster unchanged", func(t *testing.T) {
		out, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("web")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Cluster.Tags) != 1 {
			t.Fatalf("the existing cluster's tags were dropped: %+v", out.Cluster.Tags)
		}
	})

	t.Run("DescribeClusters reports unknown names as MISSING failures", func(t *testing.T) {
		out, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web", "nope", clusterARN("default")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Clusters) != 2 || len(out.Failures) != 1 {
			t.Fatalf("clusters %d failures %d", len(out.Clusters), len(out.Failures))
		}
		if aws.ToString(out.Failures[0].Reason) != "MISSING" || aws.ToString(out.Failures[0].Arn) != clusterARN("nope") {
			t.Fatalf("failure %+v", out.Failures[0])
		}
	})

	t.Run("DescribeClusters leaves tags and settings out unless included", func(t *testing.T) {
		plain, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(plain.Clusters[0].Tags) != 0 || len(plain.Clusters[0].Settings) != 0 {
			t.Fatalf("unrequested fields: %+v", plain.Clusters[0])
		}
		full, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{
			Clusters: []string{"web"},
			Include:  []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings, types.ClusterFieldStatistics},
		})
		if err != nil {
			t.Fatal(err)
		}
		cl := full.Clusters[0]
		if len(cl.Tags) != 1 || len(cl.Settings) != 1 || len(cl.Statistics) == 0 {
			t.Fatalf("included fields missing: %+v", cl)
		}
	})

	t.Run("UpdateClusterSettings changes containerInsights", func(t *testing.T) {
		out, err := c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{
			Cluster:  aws.String("web"),
			Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Cluster.Settings[0].Value) != "enabled" {
			t.Fatalf("settings %+v", out.Cluster.Settings)
		}
	})

	t.Run("ListClusters pages with maxResults and nextToken", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(fmt.Sprintf("page-%d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		p := ecs.NewListClustersPaginator(c, &ecs.ListClustersInput{MaxResults: aws.Int32(2)})
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.ClusterArns) > 2 {
				t.Fatalf("page of %d", len(out.ClusterArns))
			}
			all = append(all, out.ClusterArns...)
			pages++
		}
		if len(all) != 7 || pages != 4 {
			t.Fatalf("%d clusters in %d pages: %v", len(all), pages, all)
		}
	})

	t.Run("DeleteCluster makes the cluster INACTIVE, describable but not listed", func(t *testing.T) {
		out, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("page-0")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Cluster.Status) != "INACTIVE" {
			t.Fatalf("status %s", aws.ToString(out.Cluster.Status))
		}
		d, _ := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"page-0"}})
		if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "INACTIVE" {
			t.Fatalf("describe after delete: %+v", d)
		}
		l, _ := c.ListClusters(ctx, &ecs.ListClustersInput{})
		for _, a := range l.ClusterArns {
			if a == clusterARN("page-0") {
				t.Fatal("deleted cluster still listed")
			}
		}
		// And an INACTIVE cluster can be created afresh.
		again, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("page-0")})
		if err != nil || aws.ToString(again.Cluster.Status) != "ACTIVE" {
			t.Fatalf("re-create: %v %+v", err, again)
		}
	})

	t.Run("bad input gets ECS's exceptions and changes nothing", func(t *testing.T) {
		cases := []struct {
			name string
			call func() error
			code string
			msg  string
		}{
			{"a cluster name with a space", func() error {
				_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bad name")})
				return err
			}, "InvalidParameterException", ""},
			{"an unknown containerInsights value", func() error {
				_, err := c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("web"),
					Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("maybe")}}})
				return err
			}, "InvalidParameterException", ""},
			{"an update of an unknown cluster", func() error {
				_, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("nope")})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"a delete of an unknown cluster", func() error {
				_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("nope")})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"a cluster ARN of another account", func() error {
				_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("arn:aws:ecs:us-east-1:999999999999:cluster/web")})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"maxResults over 100", func() error {
				_, err := c.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(101)})
				return err
			}, "InvalidParameterException", ""},
			{"a nextToken that was never issued", func() error {
				_, err := c.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String("garbage!")})
				return err
			}, "InvalidParameterException", ""},
			{"more than 50 tags", func() error {
				tags := make([]types.Tag, 51)
				for i := range tags {
					tags[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
				}
				_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("many-tags"), Tags: tags})
				return err
			}, "InvalidParameterException", ""},
			{"a tag key with the reserved aws: prefix", func() error {
				_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("reserved"),
					Tags: []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("x")}}})
				return err
			}, "InvalidParameterException", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { wantAPIError(t, tc.call(), tc.code, tc.msg) })
		}
		d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{
			Clusters: []string{"web", "bad name", "many-tags", "reserved"},
			Include:  []types.ClusterField{types.ClusterFieldSettings},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Settings[0].Value) != "enabled" || len(d.Failures) != 3 {
			t.Fatalf("state changed by bad input: %+v", d)
		}
	})

	t.Run("clusters survive a restart", func(t *testing.T) {
		srv.Restart()
		c := srv.Client()
		out, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web"}, Include: []types.ClusterField{types.ClusterFieldTags}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Clusters) != 1 || len(out.Clusters[0].Tags) != 1 {
			t.Fatalf("after restart: %+v", out)
		}
	})
}
