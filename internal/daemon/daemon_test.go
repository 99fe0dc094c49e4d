package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// send posts a signed request with the given target and body, as the SDKs
// do, and returns the status, headers and decoded error body.
func send(t *testing.T, endpoint, target string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	json.Unmarshal(raw, &v)
	return resp.StatusCode, resp.Header, v
}

func TestWire(t *testing.T) {
	srv := berthtest.Start(t)
	const prefix = "AmazonEC2ContainerServiceV20141113."

	cases := []struct {
		name, target, body string
		status             int
		errType            string
	}{
		{"a known operation answers 200 with JSON 1.1", prefix + "ListClusters", `{}`, 200, ""},
		{"an unknown operation is UnknownOperationException", prefix + "LaunchRocket", `{}`, 400, "UnknownOperationException"},
		{"another service's target is UnknownOperationException", "DynamoDB_20120810.ListTables", `{}`, 400, "UnknownOperationException"},
		{"a missing target is UnknownOperationException", "", `{}`, 400, "UnknownOperationException"},
		{"malformed JSON is SerializationException", prefix + "CreateCluster", `{"clusterName":`, 400, "SerializationException"},
		{"a wrong JSON type is SerializationException", prefix + "CreateCluster", `{"clusterName":["a"]}`, 400, "SerializationException"},
		{"a body over 1 MiB is refused", prefix + "CreateCluster", `{"clusterName":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "RequestEntityTooLargeException"},
		{"an operation not written yet names itself", prefix + "GetTaskProtection", `{"cluster":"c"}`, 400, "UnsupportedFeatureException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := send(t, srv.Endpoint(), tc.target, []byte(tc.body))
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if h.Get("x-amzn-RequestId") == "" {
				t.Fatal("no x-amzn-RequestId")
			}
			if ct := h.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Fatalf("Content-Type %q", ct)
			}
			if tc.errType != "" {
				if body["__type"] != tc.errType || body["message"] == "" || body["message"] == nil {
					t.Fatalf("error body %v, want __type %s and a message", body, tc.errType)
				}
			}
		})
	}

	t.Run("healthz answers 200 once ready", func(t *testing.T) {
		resp, err := http.Get(srv.Endpoint() + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	})

	t.Run("metrics count requests by operation and error", func(t *testing.T) {
		resp, err := http.Get(srv.Endpoint() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`berth_api_requests_total{code="",operation="ListClusters"} 1`,
			`berth_api_requests_total{code="UnknownOperationException",operation="unknown"}`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestIdentity(t *testing.T) {
	ctx := context.Background()
	credsFile := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(credsFile, []byte("[alice]\naws_access_key_id = AKIAALICE00000000001\naws_secret_access_key = alice-secret\naccount_id = 111122223333\n"), 0o600)
	srv := berthtest.Start(t, berthtest.WithCredentialsFile(credsFile))

	wantCode := func(t *testing.T, err error, code string) {
		t.Helper()
		var apiErr smithy.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
			t.Fatalf("want %s, got %v", code, err)
		}
	}
	t.Run("an unknown access key is UnrecognizedClientException", func(t *testing.T) {
		_, err := srv.ClientFor("AKIANOBODY0000000000", "x", "us-east-1").ListClusters(ctx, &ecs.ListClustersInput{})
		wantCode(t, err, "UnrecognizedClientException")
	})
	t.Run("a wrong secret is InvalidSignatureException", func(t *testing.T) {
		_, err := srv.ClientFor(auth.DefaultAccessKeyID, "wrong", "us-east-1").ListClusters(ctx, &ecs.ListClustersInput{})
		wantCode(t, err, "InvalidSignatureException")
	})
	t.Run("one account never sees another's clusters, nor one region another's", func(t *testing.T) {
		dev := srv.Client()
		if _, err := dev.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("private")}); err != nil {
			t.Fatal(err)
		}
		alice := srv.ClientFor("AKIAALICE00000000001", "alice-secret", "us-east-1")
		devWest := srv.ClientFor(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, "eu-west-1")
		for name, c := range map[string]*ecs.Client{"another account": alice, "another region": devWest} {
			l, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
			if err != nil || len(l.ClusterArns) != 0 {
				t.Fatalf("%s lists %v (%v)", name, l.ClusterArns, err)
			}
			d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"private", "arn:aws:ecs:us-east-1:" + auth.DefaultAccountID + ":cluster/private"}})
			if err != nil || len(d.Clusters) != 0 || len(d.Failures) != 2 {
				t.Fatalf("%s describes %+v (%v)", name, d, err)
			}
		}
		out, err := alice.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("private")})
		if err != nil || aws.ToString(out.Cluster.ClusterArn) != "arn:aws:ecs:us-east-1:111122223333:cluster/private" {
			t.Fatalf("alice's own cluster: %v %v", out, err)
		}
	})
}
