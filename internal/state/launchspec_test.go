package state

import (
	"os"
	"testing"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// A service record written by Berth before ServiceSchema 2 (testdata: the
// shape the earlier code wrote) reads with every launch setting where it
// was, and its deployments take the service's Service Connect
// configuration, which that schema did not keep for them.
func TestSchema1ServiceRecordIsUpgradedOnRead(t *testing.T) {
	raw, err := os.ReadFile("testdata/service-schema1.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.DecodeCopy[Service](&store.Object{Key: "k", Value: raw})
	if err != nil {
		t.Fatal(err)
	}
	if r.Schema != ServiceSchema || r.TaskDefinitionARN != "arn:aws:ecs:us-east-1:123456789012:task-definition/app:2" || r.LaunchType != "EC2" {
		t.Fatalf("service read as %+v", r)
	}
	for _, d := range append(r.Deployments, r.History...) {
		if d.ServiceConnectConfiguration == nil || ecs.Val(d.ServiceConnectConfiguration.Namespace) != "blue" {
			t.Fatalf("deployment %s has Service Connect %+v, want the service's", d.ID, d.ServiceConnectConfiguration)
		}
	}
	if d := r.Primary(); d == nil || d.TaskDefinitionARN != r.TaskDefinitionARN || d.RolloutState != RolloutCompleted {
		t.Fatalf("primary %+v", d)
	}
}

// A rollback restores every launch setting of the deployment it goes back
// to, Service Connect included, and a change to any of them is a new
// deployment.
func TestRollbackRestoresTheWholeLaunchSpec(t *testing.T) {
	sc := Scope{Account: "123456789012", Region: "us-east-1"}
	r := &Service{Name: "web", Cluster: "c", Status: StatusActive, DesiredCount: 2}
	r.TaskDefinitionARN, r.ServiceConnectConfiguration = "app:1", &ecs.ServiceConnectConfiguration{Enabled: ecs.Ptr(true), Namespace: ecs.Ptr("blue")}
	first := r.NewDeployment(sc, testNow)
	first.RolloutState = RolloutCompleted
	r.Deploy(first, testNow)
	before := r.LaunchSpec

	r.TaskDefinitionARN, r.ServiceConnectConfiguration = "app:2", &ecs.ServiceConnectConfiguration{Enabled: ecs.Ptr(true), Namespace: ecs.Ptr("green")}
	if r.LaunchSpec.Equal(&before) {
		t.Fatal("a changed launch spec compares equal")
	}
	second := r.NewDeployment(sc, testNow)
	r.Deploy(second, testNow)
	if !r.RollBack(sc, r.Primary(), "rolling back to %s", testNow) {
		t.Fatal("no rollback")
	}
	if !r.LaunchSpec.Equal(&before) || !r.Primary().LaunchSpec.Equal(&before) {
		t.Fatalf("rolled back to %+v, want %+v", r.LaunchSpec, before)
	}
}

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
