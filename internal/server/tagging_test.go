package server_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func tagString(tags []types.Tag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func TestTagging(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()

	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tags"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterTaskDefinition(ctx, webTaskDef("tagged-web")); err != nil {
		t.Fatal(err)
	}
	resources := []string{clusterARN("tags"), taskDefARN("tagged-web:1")}

	tagsOf := func(t *testing.T, arn string) string {
		t.Helper()
		out, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		return tagString(out.Tags)
	}

	t.Run("TagResource adds and overwrites, UntagResource removes", func(t *testing.T) {
		for _, arn := range resources {
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{
				{Key: aws.String("env"), Value: aws.String("prod")},
				{Key: aws.String("owner"), Value: aws.String("alice")},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tagsOf(t, arn); got != "env=prod,owner=alice" {
				t.Fatalf("%s after tagging: %s", arn, got)
			}
			if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"owner", "absent"}}); err != nil {
				t.Fatal(err)
			}
			if got := tagsOf(t, arn); got != "env=prod" {
				t.Fatalf("%s after untagging: %s", arn, got)
			}
		}
	})

	t.Run("tagging leaves the rest of the record alone", func(t *testing.T) {
		d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"tags"}, Include: []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings}})
		if err != nil {
			t.Fatal(err)
		}
		cl := d.Clusters[0]
		if aws.ToString(cl.Status) != "ACTIVE" || len(cl.Settings) != 1 || tagString(cl.Tags) != "env=prod" {
			t.Fatalf("cluster after tagging: %+v", cl)
		}
		td, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("tagged-web:1"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
		if err != nil {
			t.Fatal(err)
		}
		if td.TaskDefinition.Status != types.TaskDefinitionStatusActive || len(td.TaskDefinition.ContainerDefinitions) != 1 || tagString(td.Tags) != "env=prod" {
			t.Fatalf("task definition after tagging: %+v", td)
		}
	})

	t.Run("bad input gets ECS's errors and changes nothing", func(t *testing.T) {
		var fifty []types.Tag
		for i := 0; i < 50; i++ {
			fifty = append(fifty, types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
		}
		cases := []struct {
			name      string
			call      func() error
			code, msg string
		}{
			{"reserved prefix", func() error {
				_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(clusterARN("tags")), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
				return err
			}, "InvalidParameterException", "Tag keys beginning with 'aws:' are reserved for system use and cannot be added, edited or deleted."},
			{"untag a reserved key", func() error {
				_, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(clusterARN("tags")), TagKeys: []string{"AWS:x"}})
				return err
			}, "InvalidParameterException", "Tag keys beginning with 'aws:' are reserved for system use and cannot be added, edited or deleted."},
			{"more than 50 tags in all", func() error {
				_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(clusterARN("tags")), Tags: fifty})
				return err
			}, "InvalidParameterException", "A resource can have at most 50 tags."},
			{"not an ECS ARN", func() error {
				_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecr:us-east-1:" + account + ":repository/x"), Tags: fifty[:1]})
				return err
			}, "InvalidParameterException", "The ARN provided is invalid."},
			{"an unknown cluster", func() error {
				_, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(clusterARN("nope"))})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"an unknown task definition", func() error {
				_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(taskDefARN("tagged-web:5")), Tags: fifty[:1]})
				return err
			}, "ResourceNotFoundException", "The specified resource could not be found."},
			{"another account's cluster", func() error {
				_, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:999999999999:cluster/tags")})
				return err
			}, "InvalidParameterException", "The ARN provided is invalid."},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				wantAPIError(t, tc.call(), tc.code, tc.msg)
				if got := tagsOf(t, clusterARN("tags")); got != "env=prod" {
					t.Fatalf("tags changed by a refused call: %s", got)
				}
			})
		}
	})

	t.Run("exactly 50 tags are allowed and survive a restart", func(t *testing.T) {
		var tags []types.Tag
		for i := 0; i < 49; i++ {
			tags = append(tags, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
		}
		if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(clusterARN("tags")), Tags: tags}); err != nil {
			t.Fatal(err)
		}
		srv.Restart()
		c = srv.Client()
		out, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(clusterARN("tags"))})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tags) != 50 {
			t.Fatalf("%d tags after restart, want 50", len(out.Tags))
		}
	})
}
