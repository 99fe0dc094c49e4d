package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// signedCall posts body as op, signed with the development key, and answers
// the status and the body: for requests no SDK would send.
func signedCall(t *testing.T, srv *berthtest.Server, op, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.Endpoint()+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", berthtest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// AWS matches JSON member names exactly: a member spelled in another case
// is an unknown member, and ignored. encoding/json would have matched
// {"CLUSTERNAME":"x"} to clusterName and created x.
func TestMemberNamesAreCaseSensitive(t *testing.T) {
	srv := berthtest.Start(t)
	status, raw := signedCall(t, srv, "CreateCluster", `{"CLUSTERNAME":"upper","ClusterName":"title","clusterName":"exact"}`)
	if status != http.StatusOK {
		t.Fatalf("CreateCluster: %d %s", status, raw)
	}
	var created struct{ Cluster struct{ ClusterName string } }
	if err := json.Unmarshal(raw, &created); err != nil || created.Cluster.ClusterName != "exact" {
		t.Fatalf("CreateCluster answered %s (%v); want the cluster named by clusterName", raw, err)
	}
	// Without the exact member, the name is missing, and ECS's default
	// applies: the cluster "default".
	if status, raw := signedCall(t, srv, "CreateCluster", `{"CLUSTERNAME":"upper"}`); status != http.StatusOK {
		t.Fatalf("CreateCluster: %d %s", status, raw)
	}
	list, err := srv.Client().ListClusters(context.Background(), &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ClusterArns) != 2 || !slices.ContainsFunc(list.ClusterArns, func(a string) bool { return bytes.HasSuffix([]byte(a), []byte("/exact")) }) ||
		!slices.ContainsFunc(list.ClusterArns, func(a string) bool { return bytes.HasSuffix([]byte(a), []byte("/default")) }) {
		t.Fatalf("clusters %v; want exact and default only", list.ClusterArns)
	}
}

// A member of the wrong JSON type is a SerializationException that names
// the member by its path, nested ones too.
func TestWrongMemberTypeNamesItsPath(t *testing.T) {
	srv := berthtest.Start(t)
	status, raw := signedCall(t, srv, "RegisterTaskDefinition", `{"family":"f","containerDefinitions":[{"name":"a","image":"i","memory":"lots"}]}`)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	want := "Unexpected JSON string for 'containerDefinitions.0.memory': expected a number."
	if status != http.StatusBadRequest || e.Type != "SerializationException" || e.Message != want {
		t.Fatalf("got %d %s; want 400 SerializationException %q", status, raw, want)
	}
}
