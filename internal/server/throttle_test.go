package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/server"
)

// Throttling per account, as ECS throttles: a bucket per account, Region
// and category of actions. The refill rates in these tests are so slow
// (one call in 1,000 s) that no test depends on how fast it runs.

const slow = 0.001 // calls per second: the bucket never refills during a test

func withAlice(t *testing.T) berthtest.Option {
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[alice]\naws_access_key_id = AKIAALICE00000000001\naws_secret_access_key = alice-secret\naccount_id = 111122223333\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return berthtest.WithCredentialsFile(creds)
}

func TestThrottlingIsPerAccountAndPerCategory(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, withAlice(t), berthtest.WithThrottling(server.Throttling{Limits: map[string]server.Limit{
		"cluster-read":          {Rate: slow, Burst: 3},
		"cluster-resource-read": {Rate: slow, Burst: 1},
	}}))
	dev := srv.Client()
	for i := 0; i < 3; i++ {
		if _, err := dev.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	t.Run("a call over the burst is ThrottlingException, HTTP 400, Rate exceeded", func(t *testing.T) {
		var status, attempts int
		_, err := dev.DescribeClusters(ctx, &ecs.DescribeClustersInput{}, func(o *ecs.Options) {
			o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return recordAttempts(st, &status, &attempts) })
		})
		wantAPIError(t, err, "ThrottlingException", "Rate exceeded")
		if status != 400 {
			t.Fatalf("HTTP %d, want 400", status)
		}
	})
	t.Run("another account's calls still pass", func(t *testing.T) {
		alice := srv.ClientFor("AKIAALICE00000000001", "alice-secret", berthtest.Region)
		for i := 0; i < 3; i++ {
			if _, err := alice.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
				t.Fatalf("alice's call %d: %v", i+1, err)
			}
		}
	})
	t.Run("the account's other categories still pass", func(t *testing.T) {
		if _, err := dev.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")}); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("c")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a user's burst does not starve the agents' reports", func(t *testing.T) {
		if _, err := dev.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c")}); err != nil {
			t.Fatal(err)
		}
		_, err := dev.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c")})
		wantAPIError(t, err, "ThrottlingException", "Rate exceeded")
		// Signed by the same account, as agents' reports are: answered on
		// its merits (the task does not exist), not throttled.
		_, err = dev.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("c"), Task: aws.String("0123456789abcdef0123456789abcdef"), Status: aws.String("RUNNING")})
		if code, _ := apiErrorCode(err); code == "ThrottlingException" {
			t.Fatalf("an agent's report was throttled: %v", err)
		}
		out, err := dev.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("c")})
		if err != nil || out.ContainerInstance == nil {
			t.Fatalf("an agent's registration: %v", err)
		}
	})
}

// The AWS SDK for Go v2 takes ThrottlingException for throttling: its
// standard retryer retries it, with back-off, until its attempts run out.
func TestTheSDKRetriesThrottling(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithThrottling(server.Throttling{Limits: map[string]server.Limit{"cluster-read": {Rate: slow, Burst: 1}}}))
	status, attempts := 0, 0
	c := ecs.New(ecs.Options{
		Region: berthtest.Region, BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
		APIOptions: []func(*middleware.Stack) error{func(st *middleware.Stack) error { return recordAttempts(st, &status, &attempts) }},
	})
	if _, err := c.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatal(err)
	}
	attempts = 0
	_, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	var maxAttempts *retry.MaxAttemptsError
	if !errors.As(err, &maxAttempts) || attempts != 3 {
		t.Fatalf("after %d attempts: %v; want the SDK to retry until its 3 attempts run out", attempts, err)
	}
	if code, msg := apiErrorCode(err); code != "ThrottlingException" || msg != "Rate exceeded" {
		t.Fatalf("the last attempt's error: %s %q", code, msg)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Fatal("the SDK does not take the error for throttling")
	}
}

// With no limits given, ECS's rates apply: CreateCluster's category lets
// 20 calls through at once and then 1 a second.
func TestECSRatesApplyByDefault(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t, berthtest.WithThrottling(server.Throttling{}))
	c := srv.Client()
	// 60 calls take well under the 40 s it would need for the refill to
	// keep up with them; the first throttled one comes after the burst.
	for i := 1; i <= 60; i++ {
		_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default")})
		if code, _ := apiErrorCode(err); code == "ThrottlingException" {
			if i <= 20 {
				t.Fatalf("call %d throttled, within ECS's burst of 20", i)
			}
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("60 CreateCluster calls at once were never throttled")
}

// recordAttempts counts the attempts of a call (the deserialize step runs
// once for each, inside the retry loop) and keeps the HTTP status of the
// last answer.
func recordAttempts(st *middleware.Stack, status, attempts *int) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("recordAttempts", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		*attempts++
		out, md, err := next.HandleDeserialize(ctx, in)
		if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
			*status = resp.StatusCode
		}
		return out, md, err
	}), middleware.After)
}
