package ecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

func TestModelHasEveryOperation(t *testing.T) {
	if n := len(ecs.Operations); n != 77 {
		t.Fatalf("%d operations, the ECS model has 77", n)
	}
}

func TestValidation(t *testing.T) {
	tags := func(n int) []ecs.Tag {
		out := make([]ecs.Tag, n)
		for i := range out {
			out[i] = ecs.Tag{Key: ecs.Ptr("k"), Value: ecs.Ptr("v")}
		}
		return out
	}
	cases := []struct {
		name  string
		input interface{ Validate() error }
		want  string // "" for valid
	}{
		{"a complete request is valid", &ecs.CreateServiceRequest{ServiceName: ecs.Ptr("web")}, ""},
		{"a missing required member is named", &ecs.CreateServiceRequest{},
			"1 validation error detected: Value null at 'serviceName' failed to satisfy constraint: Member must not be null"},
		{"an unknown enum value lists the legal ones", &ecs.CreateServiceRequest{ServiceName: ecs.Ptr("web"), LaunchType: "SPACESHIP"},
			"1 validation error detected: Value 'SPACESHIP' at 'launchType' failed to satisfy constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]"},
		{"51 tags are too many", &ecs.TagResourceRequest{ResourceArn: ecs.Ptr("arn"), Tags: tags(51)},
			"1 validation error detected: Value with 51 elements at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"a tag key of 129 characters is too long", &ecs.TagResourceRequest{ResourceArn: ecs.Ptr("arn"),
			Tags: []ecs.Tag{{Key: ecs.Ptr(strings.Repeat("k", 129)), Value: ecs.Ptr("v")}}},
			"1 validation error detected: Value '" + strings.Repeat("k", 129) + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"a tag value with a forbidden character breaks the pattern", &ecs.TagResourceRequest{ResourceArn: ecs.Ptr("arn"),
			Tags: []ecs.Tag{{Key: ecs.Ptr("ok"), Value: ecs.Ptr("semi;colon")}}},
			`1 validation error detected: Value 'semi;colon' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)`},
		{"nested violations carry their whole path and are all reported", &ecs.RegisterTaskDefinitionRequest{
			Family: ecs.Ptr("f"),
			ContainerDefinitions: []ecs.ContainerDefinition{
				{Name: ecs.Ptr("a")},
				{Name: ecs.Ptr("b"), PortMappings: []ecs.PortMapping{{ContainerPort: ecs.Ptr(int32(80))}, {ContainerPort: ecs.Ptr(int32(81)), Protocol: "sctp"}}},
			},
			NetworkMode: "carrier-pigeon",
		}, "2 validation errors detected: Value 'carrier-pigeon' at 'networkMode' failed to satisfy constraint: Member must satisfy enum value set: [bridge, host, awsvpc, none]; " +
			"Value 'sctp' at 'containerDefinitions.2.member.portMappings.2.member.protocol' failed to satisfy constraint: Member must satisfy enum value set: [tcp, udp]"},
		{"a capacity provider weight over 1000 is out of range", &ecs.CreateServiceRequest{ServiceName: ecs.Ptr("web"),
			CapacityProviderStrategy: []ecs.CapacityProviderStrategyItem{{CapacityProvider: ecs.Ptr("cp"), Weight: ecs.Ptr(int32(1001))}}},
			"1 validation error detected: Value '1001' at 'capacityProviderStrategy.1.member.weight' failed to satisfy constraint: Member must have value less than or equal to 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.input.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var e *ecs.Error
			if !errors.As(err, &e) || e.Code != "InvalidParameterException" || e.Status != 400 {
				t.Fatalf("want InvalidParameterException, got %v", err)
			}
			if e.Message != tc.want {
				t.Fatalf("message\n got %s\nwant %s", e.Message, tc.want)
			}
		})
	}
}

type clusterOnly struct{ ecs.UnimplementedHandler }

func (clusterOnly) CreateCluster(ctx context.Context, in *ecs.CreateClusterRequest) (*ecs.CreateClusterResponse, error) {
	return &ecs.CreateClusterResponse{Cluster: &ecs.Cluster{ClusterName: in.ClusterName}}, nil
}

func TestDispatch(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, op, body string
		code, msg      string // expected error; "" for success
	}{
		{"a known operation runs its handler", "CreateCluster", `{"clusterName":"a"}`, "", ""},
		{"an empty body is an empty object", "CreateCluster", ``, "", ""},
		{"unknown members are ignored", "CreateCluster", `{"clusterName":"a","fromTheFuture":1}`, "", ""},
		{"an unknown operation is refused", "LaunchRocket", `{}`, "UnknownOperationException", ""},
		{"malformed JSON is a SerializationException", "CreateCluster", `{"clusterName":`, "SerializationException", ""},
		{"a number where a string belongs names the member", "CreateCluster", `{"clusterName":5}`, "SerializationException",
			"Unexpected JSON number for 'clusterName': expected a string."},
		{"a top-level array is refused", "CreateCluster", `[1]`, "SerializationException", "The request body must be a JSON object."},
		{"validation runs before the handler", "UpdateCluster", `{}`, "InvalidParameterException", ""},
		{"an operation not written yet names itself", "CreateService", `{"serviceName":"s"}`, "UnsupportedFeatureException",
			"CreateService is not implemented by Berth yet."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ecs.Dispatch(ctx, clusterOnly{}, tc.op, []byte(tc.body))
			if tc.code == "" {
				if err != nil || out == nil {
					t.Fatalf("got %v, %v", out, err)
				}
				return
			}
			var e *ecs.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("want %s, got %v", tc.code, err)
			}
			if tc.msg != "" && e.Message != tc.msg {
				t.Fatalf("message %q, want %q", e.Message, tc.msg)
			}
		})
	}
}

func TestTimestampIsEpochSecondsWithMillis(t *testing.T) {
	ts := ecs.NewTimestamp(time.Date(2020, 1, 23, 18, 21, 33, 381_500_000, time.UTC))
	b, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "1579803693.381" {
		t.Fatalf("encoded %s", b)
	}
	var back ecs.Timestamp
	if err := json.Unmarshal([]byte("1.579803693381E9"), &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(ts.Time) {
		t.Fatalf("decoded %v, want %v", back.Time, ts.Time)
	}
}
