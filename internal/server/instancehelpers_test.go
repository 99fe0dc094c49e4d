package server_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Helpers of the container instance tests.

// instanceIdentityDoc is an EC2 instance identity document as the instance
// metadata service serves it.
func instanceIdentityDoc(ec2ID, instanceType, zone, ami string) string {
	return fmt.Sprintf(`{
  "accountId" : "%s",
  "architecture" : "x86_64",
  "availabilityZone" : "%s",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "%s",
  "instanceId" : "%s",
  "instanceType" : "%s",
  "kernelId" : null,
  "pendingTime" : "2024-05-01T10:00:00Z",
  "privateIp" : "10.0.1.23",
  "ramdiskId" : null,
  "region" : "us-east-1",
  "version" : "2017-09-30"
}`, account, zone, ami, ec2ID, instanceType)
}

// agentResources is the totalResources an agent sends for a host.
func agentResources(cpu, mem int32) []types.Resource {
	return []types.Resource{
		{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: cpu},
		{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: mem},
		{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}},
		{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
	}
}

func attr(name, value string) types.Attribute {
	a := types.Attribute{Name: aws.String(name)}
	if value != "" {
		a.Value = aws.String(value)
	}
	return a
}

// attrMap is name -> value ("" for none) of a container instance.
func attrMap(attrs []types.Attribute) map[string]string {
	m := map[string]string{}
	for _, a := range attrs {
		m[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	return m
}

func resourcesString(rs []types.Resource) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s:%s:%d:%v", aws.ToString(r.Name), aws.ToString(r.Type), r.IntegerValue, r.StringSetValue))
	}
	return strings.Join(parts, " ")
}

func resourceInt(rs []types.Resource, name string) (int32, bool) {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r.IntegerValue, true
		}
	}
	return 0, false
}

var instanceARNPattern = regexp.MustCompile(`^arn:aws:ecs:us-east-1:` + account + `:container-instance/([a-z0-9-]+)/([0-9a-f]{32})$`)

// instanceID is the id part of a container instance ARN.
func instanceID(t *testing.T, arn string) string {
	t.Helper()
	m := instanceARNPattern.FindStringSubmatch(arn)
	if m == nil {
		t.Fatalf("container instance ARN %q is not in the long format with a 32-hex-digit id", arn)
	}
	return m[2]
}

func registerTestInstance(t *testing.T, c *ecs.Client, cluster, ec2ID string, attrs ...types.Attribute) types.ContainerInstance {
	t.Helper()
	out, err := c.RegisterContainerInstance(context.Background(), &ecs.RegisterContainerInstanceInput{
		Cluster:                  aws.String(cluster),
		InstanceIdentityDocument: aws.String(instanceIdentityDoc(ec2ID, "m5.large", "us-east-1a", "ami-0123456789abcdef0")),
		TotalResources:           agentResources(2048, 7982),
		VersionInfo:              &types.VersionInfo{AgentVersion: aws.String("1.80.0"), AgentHash: aws.String("abc1234"), DockerVersion: aws.String("DockerVersion: 25.0.3")},
		Attributes:               attrs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ContainerInstance
}

func listInstances(t *testing.T, c *ecs.Client, in *ecs.ListContainerInstancesInput) []string {
	t.Helper()
	out, err := c.ListContainerInstances(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out.ContainerInstanceArns)
	return out.ContainerInstanceArns
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func registeredCount(t *testing.T, c *ecs.Client, cluster string) int32 {
	t.Helper()
	out, err := c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{cluster}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Clusters[0].RegisteredContainerInstancesCount
}
