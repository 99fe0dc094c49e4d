package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func onInstance(name, value, targetID string, short bool) types.Attribute {
	a := attr(name, value)
	a.TargetId = aws.String(targetID)
	if short {
		a.TargetType = types.TargetTypeContainerInstance
	}
	return a
}

func describeAttrs(t *testing.T, c *ecs.Client, cluster, arn string) map[string]string {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{arn}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 1 {
		t.Fatalf("describe %s: %+v", arn, out.Failures)
	}
	return attrMap(out.ContainerInstances[0].Attributes)
}

func customAttrs(m map[string]string) string {
	var parts []string
	for k, v := range m {
		if !strings.HasPrefix(k, "ecs.") && !strings.HasPrefix(k, "com.amazonaws.ecs.") {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(sorted(parts...), ",")
}

// listAllAttributes follows every page of a ListAttributes call.
func listAllAttributes(t *testing.T, c *ecs.Client, in ecs.ListAttributesInput) (entries []string, pages int) {
	t.Helper()
	p := ecs.NewListAttributesPaginator(c, &in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Attributes {
			entries = append(entries, aws.ToString(a.TargetId)+" "+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
		}
		pages++
	}
	return entries, pages
}

func TestAttributes(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("attrs")}); err != nil {
		t.Fatal(err)
	}
	one := registerTestInstance(t, c, "attrs", "i-01", attr("ecs.os-type", "linux"))
	two := registerTestInstance(t, c, "attrs", "i-02", attr("ecs.os-type", "linux"))
	oneARN, twoARN := aws.ToString(one.ContainerInstanceArn), aws.ToString(two.ContainerInstanceArn)
	oneID := instanceID(t, oneARN)

	t.Run("PutAttributes sets attributes by short id with targetType or by ARN", func(t *testing.T) {
		in := []types.Attribute{onInstance("stack", "prod", oneID, true), onInstance("zone", "a", twoARN, false), onInstance("gpu", "", twoARN, false)}
		out, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: in})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Attributes) != 3 || aws.ToString(out.Attributes[0].Name) != "stack" {
			t.Fatalf("response %+v", out.Attributes)
		}
		if got := customAttrs(describeAttrs(t, c, "attrs", oneARN)); got != "stack=prod" {
			t.Fatalf("instance one: %s", got)
		}
		if got := customAttrs(describeAttrs(t, c, "attrs", twoARN)); got != "gpu=,zone=a" {
			t.Fatalf("instance two: %s", got)
		}
	})

	t.Run("PutAttributes replaces the value of an existing attribute", func(t *testing.T) {
		if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String(clusterARN("attrs")),
			Attributes: []types.Attribute{onInstance("stack", "staging", oneARN, false)}}); err != nil {
			t.Fatal(err)
		}
		if got := customAttrs(describeAttrs(t, c, "attrs", oneARN)); got != "stack=staging" {
			t.Fatalf("instance one: %s", got)
		}
	})

	t.Run("ListAttributes lists one entry per attribute per instance, with filters", func(t *testing.T) {
		all, _ := listAllAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance})
		for _, want := range []string{oneARN + " stack=staging", twoARN + " zone=a", twoARN + " gpu=", oneARN + " ecs.os-type=linux", oneARN + " ecs.instance-type=m5.large"} {
			found := false
			for _, e := range all {
				found = found || e == want
			}
			if !found {
				t.Errorf("%q missing from %v", want, all)
			}
		}
		cases := []struct {
			name, value *string
			want        string
		}{
			{aws.String("stack"), nil, oneARN + " stack=staging"},
			{aws.String("stack"), aws.String("staging"), oneARN + " stack=staging"},
			{aws.String("stack"), aws.String("prod"), ""},
			{aws.String("ecs.os-type"), aws.String("linux"), strings.Join(sorted(oneARN+" ecs.os-type=linux", twoARN+" ecs.os-type=linux"), ",")},
		}
		for _, tc := range cases {
			got, _ := listAllAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance,
				AttributeName: tc.name, AttributeValue: tc.value})
			if strings.Join(sorted(got...), ",") != tc.want {
				t.Errorf("name %s value %s: got %v want %s", aws.ToString(tc.name), aws.ToString(tc.value), got, tc.want)
			}
		}
	})

	t.Run("ListAttributes pages through every entry once", func(t *testing.T) {
		all, _ := listAllAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance})
		paged, pages := listAllAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, MaxResults: aws.Int32(3)})
		if strings.Join(paged, "\n") != strings.Join(all, "\n") || pages != (len(all)+2)/3 {
			t.Fatalf("%d pages of %d entries:\n%s\nwant %d entries:\n%s", pages, len(paged), strings.Join(paged, "\n"), len(all), strings.Join(all, "\n"))
		}
	})

	t.Run("DeleteAttributes removes by name, and deleting a missing attribute succeeds", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			out, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"),
				Attributes: []types.Attribute{onInstance("stack", "", oneID, true)}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Attributes) != 1 || aws.ToString(out.Attributes[0].Name) != "stack" {
				t.Fatalf("response %+v", out.Attributes)
			}
		}
		m := describeAttrs(t, c, "attrs", oneARN)
		if got := customAttrs(m); got != "" || m["ecs.os-type"] != "linux" {
			t.Fatalf("instance one after delete: %v", m)
		}
	})

	t.Run("an instance holds at most 10 custom attributes", func(t *testing.T) {
		var nine []types.Attribute
		for i := 0; i < 8; i++ {
			nine = append(nine, onInstance(fmt.Sprintf("k%d", i), "v", twoARN, false)) // with zone and gpu: 10
		}
		if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: nine}); err != nil {
			t.Fatal(err)
		}
		_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"),
			Attributes: []types.Attribute{onInstance("stack", "x", oneARN, false), onInstance("one-too-many", "v", twoARN, false)}})
		wantAPIError(t, err, "AttributeLimitExceededException",
			"You can apply up to 10 custom attributes for each resource. You can view the attributes of a resource with ListAttributes. You can remove existing attributes on a resource with DeleteAttributes.")
		if got := customAttrs(describeAttrs(t, c, "attrs", oneARN)); got != "" {
			t.Fatalf("a refused call changed another instance: %s", got)
		}
		if n := len(strings.Split(customAttrs(describeAttrs(t, c, "attrs", twoARN)), ",")); n != 10 {
			t.Fatalf("%d custom attributes", n)
		}
		// Replacing the value of an existing one stays within the limit.
		if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"),
			Attributes: []types.Attribute{onInstance("k0", "w", twoARN, false)}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("bad input gets ECS's exceptions and changes nothing", func(t *testing.T) {
		put := func(attrs ...types.Attribute) func() error {
			return func() error {
				_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: attrs})
				return err
			}
		}
		var eleven []types.Attribute
		for i := 0; i < 11; i++ {
			eleven = append(eleven, onInstance(fmt.Sprintf("n%d", i), "v", oneARN, false))
		}
		notFound := "The specified target wasn't found. You can view your available container instances with ListContainerInstances. Amazon ECS container instances are cluster-specific and Region-specific."
		gone := registerTestInstance(t, c, "attrs", "i-03")
		if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("attrs"), ContainerInstance: gone.ContainerInstanceArn}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			call func() error
			code string
			msg  string
		}{
			{"more than 10 attributes in one call", put(eleven...), "InvalidParameterException", "attributes can have at most 10 items."},
			{"a name with a space", put(onInstance("bad name", "v", oneARN, false)), "InvalidParameterException",
				`Attribute name "bad name" is invalid. The name must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens, underscores, forward slashes, back slashes, or periods.`},
			{"a name of 129 characters", put(onInstance(strings.Repeat("a", 129), "v", oneARN, false)), "InvalidParameterException", ""},
			{"a value starting with a space", put(onInstance("ok", " v", oneARN, false)), "InvalidParameterException",
				`Attribute value " v" is invalid. The value must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons, or spaces, and can't start or end with a space.`},
			{"a value with a comma", put(onInstance("ok", "a,b", oneARN, false)), "InvalidParameterException", ""},
			{"no targetId", put(attr("ok", "v")), "InvalidParameterException", `Attribute "ok" has no targetId. Specify the container instance ID or full ARN.`},
			{"a short id without targetType", put(onInstance("ok", "v", oneID, false)), "InvalidParameterException", "targetType must be specified when targetId is not a full ARN."},
			{"an unknown instance", put(onInstance("ok", "v", "0123456789abcdef0123456789abcdef", true)), "TargetNotFoundException", notFound},
			{"an instance of another cluster", put(onInstance("ok", "v", strings.Replace(oneARN, "/attrs/", "/other/", 1), false)), "TargetNotFoundException", notFound},
			{"a deregistered instance", put(onInstance("ok", "v", aws.ToString(gone.ContainerInstanceArn), false)), "TargetNotFoundException", notFound},
			{"an unknown cluster", func() error {
				_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("nope"), Attributes: []types.Attribute{onInstance("ok", "v", oneARN, false)}})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"one bad target among good ones", put(onInstance("ok", "v", oneARN, false), onInstance("ok", "v", "nope", true)), "TargetNotFoundException", notFound},
			{"a delete on an unknown instance", func() error {
				_, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{onInstance("zone", "", "nope", true)}})
				return err
			}, "TargetNotFoundException", notFound},
			{"a delete of more than 10 attributes", func() error {
				_, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: eleven})
				return err
			}, "InvalidParameterException", "attributes can have at most 10 items."},
			{"a list filtered on a value without a name", func() error {
				_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, AttributeValue: aws.String("v")})
				return err
			}, "InvalidParameterException", "attributeName must be specified when attributeValue is."},
			{"a list with maxResults over 100", func() error {
				_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, MaxResults: aws.Int32(101)})
				return err
			}, "InvalidParameterException", "maxResults must be between 1 and 100."},
			{"a list with a nextToken that was never issued", func() error {
				_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, NextToken: aws.String("garbage!")})
				return err
			}, "InvalidParameterException", "Invalid nextToken."},
			{"a list in an unknown cluster", func() error {
				_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("nope"), TargetType: types.TargetTypeContainerInstance})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { wantAPIError(t, tc.call(), tc.code, tc.msg) })
		}
		if got := customAttrs(describeAttrs(t, c, "attrs", oneARN)); got != "" {
			t.Fatalf("instance one changed by bad input: %s", got)
		}
		if got := customAttrs(describeAttrs(t, c, "attrs", twoARN)); !strings.Contains(got, "k0=w") || strings.Contains(got, "ok=") {
			t.Fatalf("instance two changed by bad input: %s", got)
		}
	})

	t.Run("attributes survive a restart", func(t *testing.T) {
		srv.Restart()
		c := srv.Client()
		if got := customAttrs(describeAttrs(t, c, "attrs", twoARN)); !strings.Contains(got, "zone=a") || !strings.Contains(got, "k0=w") {
			t.Fatalf("after restart: %s", got)
		}
		got, _ := listAllAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("zone")})
		if strings.Join(got, ",") != twoARN+" zone=a" {
			t.Fatalf("list after restart: %v", got)
		}
	})
}
