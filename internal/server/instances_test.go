package server_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func TestContainerInstances(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("ci")}); err != nil {
		t.Fatal(err)
	}

	var first, second, bare types.ContainerInstance

	t.Run("RegisterContainerInstance takes the EC2 facts from the identity document", func(t *testing.T) {
		out, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
			Cluster:                           aws.String("ci"),
			InstanceIdentityDocument:          aws.String(instanceIdentityDoc("i-0aaa", "m5.large", "us-east-1a", "ami-0123456789abcdef0")),
			InstanceIdentityDocumentSignature: aws.String("c2lnbmF0dXJl"),
			TotalResources:                    agentResources(2048, 7982),
			VersionInfo:                       &types.VersionInfo{AgentVersion: aws.String("1.80.0"), AgentHash: aws.String("abc1234"), DockerVersion: aws.String("DockerVersion: 25.0.3")},
			Attributes: []types.Attribute{
				attr("ecs.os-type", "linux"),
				attr("com.amazonaws.ecs.capability.docker-remote-api.1.21", ""),
				attr("ecs.instance-type", "t2.nano"), // the document wins
				attr("stack", "prod"),
				attr("bad name", "x"), // ECS drops what breaks its rules
			},
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ci := out.ContainerInstance
		first = *ci
		if m := instanceARNPattern.FindStringSubmatch(aws.ToString(ci.ContainerInstanceArn)); m == nil || m[1] != "ci" {
			t.Fatalf("ARN %s", aws.ToString(ci.ContainerInstanceArn))
		}
		if aws.ToString(ci.Ec2InstanceId) != "i-0aaa" || aws.ToString(ci.Status) != "ACTIVE" || ci.AgentConnected {
			t.Fatalf("instance %+v", ci)
		}
		want := map[string]string{
			"ecs.os-type": "linux",
			"com.amazonaws.ecs.capability.docker-remote-api.1.21": "",
			"ecs.instance-type":     "m5.large",
			"ecs.availability-zone": "us-east-1a",
			"ecs.ami-id":            "ami-0123456789abcdef0",
			"stack":                 "prod",
		}
		if got := attrMap(ci.Attributes); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("attributes\n got %v\nwant %v", got, want)
		}
		if cpu, _ := resourceInt(ci.RegisteredResources, "CPU"); cpu != 2048 {
			t.Fatalf("registered CPU %d", cpu)
		}
		if resourcesString(ci.RegisteredResources) != resourcesString(ci.RemainingResources) {
			t.Fatalf("remaining %v differs from registered %v with no tasks", ci.RemainingResources, ci.RegisteredResources)
		}
		if aws.ToString(ci.VersionInfo.AgentVersion) != "1.80.0" || ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 || ci.RegisteredAt == nil {
			t.Fatalf("instance %+v", ci)
		}
		if n := registeredCount(t, c, "ci"); n != 1 {
			t.Fatalf("registeredContainerInstancesCount %d", n)
		}
	})

	t.Run("re-registering by ARN updates the instance and keeps its id", func(t *testing.T) {
		out, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
			Cluster:                  aws.String("ci"),
			ContainerInstanceArn:     first.ContainerInstanceArn,
			InstanceIdentityDocument: aws.String(instanceIdentityDoc("i-0aaa", "m5.large", "us-east-1a", "ami-0123456789abcdef0")),
			TotalResources:           agentResources(4096, 15000),
			VersionInfo:              &types.VersionInfo{AgentVersion: aws.String("1.81.0")},
			Attributes: []types.Attribute{
				attr("ecs.os-type", "linux"),
				attr("ecs.capability.container-ordering", ""),
				attr("team", "late"), // custom attributes count only at the first registration
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ci := out.ContainerInstance
		if aws.ToString(ci.ContainerInstanceArn) != aws.ToString(first.ContainerInstanceArn) {
			t.Fatalf("re-registration made a new instance %s", aws.ToString(ci.ContainerInstanceArn))
		}
		if cpu, _ := resourceInt(ci.RegisteredResources, "CPU"); cpu != 4096 {
			t.Fatalf("registered CPU %d after re-registration", cpu)
		}
		got := attrMap(ci.Attributes)
		if _, ok := got["ecs.capability.container-ordering"]; !ok {
			t.Fatalf("new capability missing: %v", got)
		}
		if _, ok := got["com.amazonaws.ecs.capability.docker-remote-api.1.21"]; ok {
			t.Fatalf("capability the agent no longer reports kept: %v", got)
		}
		if _, ok := got["team"]; ok || got["stack"] != "prod" || got["ecs.instance-type"] != "m5.large" {
			t.Fatalf("attributes after re-registration %v", got)
		}
		if aws.ToString(ci.VersionInfo.AgentVersion) != "1.81.0" || ci.Version <= first.Version {
			t.Fatalf("versionInfo %+v version %d (was %d)", ci.VersionInfo, ci.Version, first.Version)
		}
		if n := registeredCount(t, c, "ci"); n != 1 {
			t.Fatalf("registeredContainerInstancesCount %d", n)
		}
		first = *ci
	})

	t.Run("registering the same EC2 instance without an ARN makes a new container instance, as ECS does", func(t *testing.T) {
		second = registerTestInstance(t, c, "ci", "i-0aaa", attr("stack", "dev"))
		if aws.ToString(second.ContainerInstanceArn) == aws.ToString(first.ContainerInstanceArn) {
			t.Fatal("same ARN")
		}
		if n := registeredCount(t, c, "ci"); n != 2 {
			t.Fatalf("registeredContainerInstancesCount %d", n)
		}
	})

	t.Run("a registration without document or resources still reports the standard resources", func(t *testing.T) {
		out, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(clusterARN("ci"))})
		if err != nil {
			t.Fatal(err)
		}
		bare = *out.ContainerInstance
		if bare.Ec2InstanceId != nil {
			t.Fatalf("ec2InstanceId %q", aws.ToString(bare.Ec2InstanceId))
		}
		var names []string
		for _, r := range bare.RegisteredResources {
			names = append(names, aws.ToString(r.Name))
		}
		if strings.Join(names, ",") != "CPU,MEMORY,PORTS,PORTS_UDP" {
			t.Fatalf("resources %v", names)
		}
	})

	t.Run("DescribeContainerInstances by id and ARN, with MISSING failures", func(t *testing.T) {
		unknownARN := "arn:aws:ecs:us-east-1:" + account + ":container-instance/ci/00000000000000000000000000000000"
		out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster:            aws.String("ci"),
			ContainerInstances: []string{instanceID(t, aws.ToString(first.ContainerInstanceArn)), aws.ToString(second.ContainerInstanceArn), "nope", unknownARN},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ContainerInstances) != 2 || len(out.Failures) != 2 {
			t.Fatalf("%d instances, failures %+v", len(out.ContainerInstances), out.Failures)
		}
		wantMissing := []string{"arn:aws:ecs:us-east-1:" + account + ":container-instance/ci/nope", unknownARN}
		for i, f := range out.Failures {
			if aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != wantMissing[i] {
				t.Fatalf("failure %d: %s %s", i, aws.ToString(f.Arn), aws.ToString(f.Reason))
			}
		}
		if len(out.ContainerInstances[0].Tags) != 0 || out.ContainerInstances[0].HealthStatus != nil {
			t.Fatalf("unrequested tags or health: %+v", out.ContainerInstances[0])
		}
	})

	t.Run("DescribeContainerInstances includes tags and health when asked", func(t *testing.T) {
		out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster:            aws.String("ci"),
			ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn)},
			Include:            []types.ContainerInstanceField{types.ContainerInstanceFieldTags, types.ContainerInstanceFieldContainerInstanceHealth},
		})
		if err != nil {
			t.Fatal(err)
		}
		ci := out.ContainerInstances[0]
		if len(ci.Tags) != 1 || aws.ToString(ci.Tags[0].Key) != "team" {
			t.Fatalf("tags %+v", ci.Tags)
		}
		h := ci.HealthStatus
		if h == nil || h.OverallStatus != types.InstanceHealthCheckStateInitializing || len(h.Details) != 1 || h.Details[0].Type != types.InstanceHealthCheckTypeContainerRuntime {
			t.Fatalf("health %+v", h)
		}
	})

	all := sorted(aws.ToString(first.ContainerInstanceArn), aws.ToString(second.ContainerInstanceArn), aws.ToString(bare.ContainerInstanceArn))

	t.Run("ListContainerInstances lists every instance by default and pages", func(t *testing.T) {
		if got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci")}); !slices.Equal(got, all) {
			t.Fatalf("list %v want %v", got, all)
		}
		var paged []string
		pages := 0
		p := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, out.ContainerInstanceArns...)
			pages++
		}
		if sort.Strings(paged); !slices.Equal(paged, all) || pages != 2 {
			t.Fatalf("%d pages: %v", pages, paged)
		}
	})

	t.Run("ListContainerInstances filters on attributes", func(t *testing.T) {
		firstARN, secondARN := aws.ToString(first.ContainerInstanceArn), aws.ToString(second.ContainerInstanceArn)
		thirdARN := aws.ToString(bare.ContainerInstanceArn)
		cases := map[string][]string{
			"attribute:stack == prod":                                                          {firstARN},
			"attribute:stack equals dev":                                                       {secondARN},
			"attribute:stack != prod":                                                          {secondARN}, // not the instance without stack
			"attribute:stack exists":                                                           sorted(firstARN, secondARN),
			"attribute:stack == prod or attribute:stack == dev":                                sorted(firstARN, secondARN),
			"attribute:ecs.instance-type == m5.large and attribute:stack == dev":               {secondARN},
			"attribute:stack == prod || attribute:ecs.ami-id exists && attribute:stack == dev": sorted(firstARN, secondARN),
			"attribute:stack == nothing":                                                       {},
			"attribute:stack in [prod, dev]":                                                   sorted(firstARN, secondARN),
			"not(attribute:stack == prod) and attribute:stack exists":                          {secondARN},
			"runningTasksCount == 0 and agentConnected == false":                               sorted(firstARN, secondARN, thirdARN),
			"ec2InstanceId =~ i-.*":                                                            sorted(firstARN, secondARN),
		}
		for filter, want := range cases {
			got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Filter: aws.String(filter)})
			if !slices.Equal(got, want) {
				t.Errorf("%q: got %v want %v", filter, got, want)
			}
		}
	})

	t.Run("UpdateContainerInstancesState drains and reactivates, with failures for unknown instances", func(t *testing.T) {
		out, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
			Cluster:            aws.String("ci"),
			ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn), "nope"},
			Status:             types.ContainerInstanceStatusDraining,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ContainerInstances) != 1 || aws.ToString(out.ContainerInstances[0].Status) != "DRAINING" {
			t.Fatalf("instances %+v", out.ContainerInstances)
		}
		if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Fatalf("failures %+v", out.Failures)
		}
		if got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Status: types.ContainerInstanceStatusDraining}); !slices.Equal(got, []string{aws.ToString(first.ContainerInstanceArn)}) {
			t.Fatalf("DRAINING list %v", got)
		}
		if got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Status: types.ContainerInstanceStatusActive}); len(got) != 2 {
			t.Fatalf("ACTIVE list %v", got)
		}
		if n := registeredCount(t, c, "ci"); n != 3 {
			t.Fatalf("a draining instance is still registered: count %d", n)
		}
		back, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
			Cluster: aws.String("ci"), ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn)}, Status: types.ContainerInstanceStatusActive,
		})
		if err != nil || aws.ToString(back.ContainerInstances[0].Status) != "ACTIVE" {
			t.Fatalf("reactivate: %v %+v", err, back)
		}
	})

	t.Run("DeregisterContainerInstance makes it INACTIVE, describable but not listed", func(t *testing.T) {
		out, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
			Cluster: aws.String("ci"), ContainerInstance: aws.String(instanceID(t, aws.ToString(bare.ContainerInstanceArn))),
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ContainerInstance.Status) != "INACTIVE" {
			t.Fatalf("status %s", aws.ToString(out.ContainerInstance.Status))
		}
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("ci"), ContainerInstances: []string{aws.ToString(bare.ContainerInstanceArn)}})
		if err != nil || len(d.ContainerInstances) != 1 || aws.ToString(d.ContainerInstances[0].Status) != "INACTIVE" {
			t.Fatalf("describe after deregister: %v %+v", err, d)
		}
		want := sorted(aws.ToString(first.ContainerInstanceArn), aws.ToString(second.ContainerInstanceArn))
		if got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci")}); !slices.Equal(got, want) {
			t.Fatalf("list after deregister %v", got)
		}
		if n := registeredCount(t, c, "ci"); n != 2 {
			t.Fatalf("registeredContainerInstancesCount %d", n)
		}
		u, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
			Cluster: aws.String("ci"), ContainerInstances: []string{aws.ToString(bare.ContainerInstanceArn)}, Status: types.ContainerInstanceStatusDraining,
		})
		if err != nil || len(u.ContainerInstances) != 0 || len(u.Failures) != 1 || aws.ToString(u.Failures[0].Reason) != "INACTIVE" {
			t.Fatalf("draining an INACTIVE instance: %v %+v", err, u)
		}
	})

	t.Run("bad input gets ECS's exceptions and changes nothing", func(t *testing.T) {
		eleven := make([]string, 11)
		for i := range eleven {
			eleven[i] = aws.ToString(first.ContainerInstanceArn)
		}
		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprintf("id%d", i)
		}
		bareID := instanceID(t, aws.ToString(bare.ContainerInstanceArn))
		cases := []struct {
			name string
			call func() error
			code string
			msg  string
		}{
			{"registration into an unknown cluster", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("nope")})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"registration into the default cluster that does not exist", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"an identity document that is not JSON", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci"), InstanceIdentityDocument: aws.String("{not json")})
				return err
			}, "ClientException", "The identity document and identity document signature were not valid."},
			{"an identity document that is not an object", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci"), InstanceIdentityDocument: aws.String(`["i-1"]`)})
				return err
			}, "ClientException", "The identity document and identity document signature were not valid."},
			{"re-registration of an unknown instance", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci"),
					ContainerInstanceArn: aws.String("arn:aws:ecs:us-east-1:" + account + ":container-instance/ci/0123456789abcdef0123456789abcdef")})
				return err
			}, "ClientException", "Referenced container instance 0123456789abcdef0123456789abcdef not registered."},
			{"re-registration of a deregistered instance", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci"), ContainerInstanceArn: bare.ContainerInstanceArn})
				return err
			}, "ClientException", "Container instance " + bareID + " is inactive."},
			{"a reserved tag key", func() error {
				_, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("ci"),
					Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
				return err
			}, "InvalidParameterException", "Tag keys beginning with 'aws:' are reserved for system use and cannot be added, edited or deleted."},
			{"more than 100 instances to describe", func() error {
				_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("ci"), ContainerInstances: many})
				return err
			}, "InvalidParameterException", "instanceIds can have at most 100 items."},
			{"a describe in an unknown cluster", func() error {
				_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("nope"), ContainerInstances: []string{"x"}})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"maxResults over 100", func() error {
				_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), MaxResults: aws.Int32(101)})
				return err
			}, "InvalidParameterException", "maxResults must be between 1 and 100."},
			{"a nextToken that was never issued", func() error {
				_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), NextToken: aws.String("garbage!")})
				return err
			}, "InvalidParameterException", "Invalid nextToken."},
			{"a filter with a syntax error", func() error {
				_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Filter: aws.String("attribute:stack in prod")})
				return err
			}, "InvalidParameterException", `Invalid filter expression "attribute:stack in prod": expected '[' to start a list but found "prod" at position 19.`},
			{"a filter subject ECS does not know", func() error {
				_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci"), Filter: aws.String("colour == red")})
				return err
			}, "InvalidParameterException", `Invalid filter expression "colour == red": unknown subject "colour" at position 0.`},
			{"a state other than ACTIVE or DRAINING", func() error {
				_, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("ci"),
					ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn)}, Status: types.ContainerInstanceStatusRegistering})
				return err
			}, "InvalidParameterException", "Container instances can only be set to ACTIVE or DRAINING; REGISTERING is not allowed."},
			{"more than 10 instances to update", func() error {
				_, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("ci"),
					ContainerInstances: eleven, Status: types.ContainerInstanceStatusDraining})
				return err
			}, "InvalidParameterException", "instanceIds can have at most 10 items."},
			{"a deregistration of an unknown instance", func() error {
				_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("ci"), ContainerInstance: aws.String("nope")})
				return err
			}, "ClientException", "Referenced container instance nope not found."},
			{"a deregistration in an unknown cluster", func() error {
				_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("nope"), ContainerInstance: first.ContainerInstanceArn})
				return err
			}, "ClusterNotFoundException", "Cluster not found."},
			{"an instance ARN of another cluster", func() error {
				_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("ci"),
					ContainerInstance: aws.String("arn:aws:ecs:us-east-1:" + account + ":container-instance/other/" + instanceID(t, aws.ToString(first.ContainerInstanceArn)))})
				return err
			}, "ClientException", "Referenced container instance " + instanceID(t, aws.ToString(first.ContainerInstanceArn)) + " not found."},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { wantAPIError(t, tc.call(), tc.code, tc.msg) })
		}
		want := sorted(aws.ToString(first.ContainerInstanceArn), aws.ToString(second.ContainerInstanceArn))
		if got := listInstances(t, c, &ecs.ListContainerInstancesInput{Cluster: aws.String("ci")}); !slices.Equal(got, want) {
			t.Fatalf("instances changed by bad input: %v", got)
		}
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("ci"), ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn), aws.ToString(bare.ContainerInstanceArn)}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(d.ContainerInstances[0].Status) != "ACTIVE" || d.ContainerInstances[0].Version != first.Version+2 || aws.ToString(d.ContainerInstances[1].Status) != "INACTIVE" {
			t.Fatalf("state changed by bad input: %+v", d.ContainerInstances)
		}
	})

	t.Run("TagResource and ListTagsForResource work on container instances", func(t *testing.T) {
		if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: first.ContainerInstanceArn,
			Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: first.ContainerInstanceArn})
		if err != nil || len(out.Tags) != 2 {
			t.Fatalf("tags: %v %+v", err, out)
		}
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("ci"),
			ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn)}, Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags}})
		if err != nil || len(d.ContainerInstances[0].Tags) != 2 || attrMap(d.ContainerInstances[0].Attributes)["stack"] != "prod" {
			t.Fatalf("describe after tagging: %v %+v", err, d)
		}
	})

	t.Run("container instances survive a restart", func(t *testing.T) {
		srv.Restart()
		c := srv.Client()
		d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster: aws.String("ci"), ContainerInstances: []string{aws.ToString(first.ContainerInstanceArn)},
			Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags},
		})
		if err != nil {
			t.Fatal(err)
		}
		ci := d.ContainerInstances[0]
		if cpu, _ := resourceInt(ci.RegisteredResources, "CPU"); cpu != 4096 || len(ci.Tags) != 2 || attrMap(ci.Attributes)["stack"] != "prod" ||
			aws.ToString(ci.Ec2InstanceId) != "i-0aaa" || !ci.RegisteredAt.Equal(aws.ToTime(first.RegisteredAt)) {
			t.Fatalf("after restart: %+v", ci)
		}
		if n := registeredCount(t, c, "ci"); n != 2 {
			t.Fatalf("registeredContainerInstancesCount after restart %d", n)
		}
	})
}

func TestDeleteClusterWithContainerInstances(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("busy")}); err != nil {
		t.Fatal(err)
	}
	ci := registerTestInstance(t, c, "busy", "i-0bbb")
	const msg = "The Cluster cannot be deleted while Container Instances are active or draining."

	_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("busy")})
	wantAPIError(t, err, "ClusterContainsContainerInstancesException", msg)

	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("busy"), ContainerInstances: []string{aws.ToString(ci.ContainerInstanceArn)}, Status: types.ContainerInstanceStatusDraining,
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("busy")})
	wantAPIError(t, err, "ClusterContainsContainerInstancesException", msg)

	if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("busy"), ContainerInstance: ci.ContainerInstanceArn}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("busy")})
	if err != nil || aws.ToString(out.Cluster.Status) != "INACTIVE" {
		t.Fatalf("delete after deregistering: %v %+v", err, out)
	}
	_, err = c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("busy")})
	wantAPIError(t, err, "ClusterNotFoundException", "Cluster not found.")
}
