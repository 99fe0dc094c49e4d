package acs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/internal/berthtest"
)

// wantReplaced checks the close frame of a session a newer one replaced.
func wantReplaced(t *testing.T, ce *websocket.CloseError) {
	t.Helper()
	if ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "replaced") {
		t.Fatalf("the replaced session was closed with %d %q, want %d and a reason that says it was replaced", ce.Code, ce.Text, websocket.ClosePolicyViolation)
	}
}

// A container instance has one ACS session: a new one replaces the old,
// which is closed and told why; the instance stays connected through the
// newer session, which alone gets the tasks.
func TestANewACSSessionReplacesTheOld(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	instanceARN := registerInstance(t, c, "lab")
	endpoint := srv.Endpoint() + "/acs"

	older := dialACSAs(t, endpoint, creds, "lab", instanceARN)
	newer := dialACSAs(t, endpoint, creds, "lab", instanceARN)
	wantReplaced(t, older.closedBy("PayloadMessage"))
	// The older session's end was recorded before its close frame went
	// out: it left the newer session's connection and liveness alone.
	if !describeInstance(t, c, "lab", instanceARN).AgentConnected {
		t.Fatal("closing the replaced session marked the instance disconnected")
	}

	taskARN := startTaskOn(t, c, "lab", instanceARN, "app")
	var p acsmsg.PayloadMessage
	newer.next("PayloadMessage", &p)
	if len(p.Tasks) != 1 || aws.ToString(p.Tasks[0].Arn) != taskARN {
		t.Fatalf("the newer session got %+v", p)
	}
	// And so it goes on: the stop reaches the newer session too.
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("lab"), Task: aws.String(taskARN)}); err != nil {
		t.Fatal(err)
	}
	newer.next("PayloadMessage", &p)
	if !describeInstance(t, c, "lab", instanceARN).AgentConnected {
		t.Fatal("the instance shows disconnected while its newer session is open")
	}

	newer.conn.Close()
	eventually(t, "the instance shows disconnected once its only session closed", func() bool {
		return !describeInstance(t, c, "lab", instanceARN).AgentConnected
	})
}

// A session replaced through another server sharing the etcd is closed by
// its own server, which sees the liveness key name the newer session.
func TestAnACSSessionReplacedThroughAnotherServerIsClosed(t *testing.T) {
	first := berthtest.Start(t)
	second := berthtest.Start(t, berthtest.WithEtcdEndpoints(first.EtcdEndpoints()))
	instanceARN := registerInstance(t, first.Client(), "lab")

	older := dialACSAs(t, first.Endpoint()+"/acs", creds, "lab", instanceARN)
	newer := dialACSAs(t, second.Endpoint()+"/acs", creds, "lab", instanceARN)
	wantReplaced(t, older.closedBy("PayloadMessage"))
	for _, srv := range []*berthtest.Server{first, second} {
		if !describeInstance(t, srv.Client(), "lab", instanceARN).AgentConnected {
			t.Fatal("closing the replaced session marked the instance disconnected")
		}
	}
	taskARN := startTaskOn(t, first.Client(), "lab", instanceARN, "app")
	var p acsmsg.PayloadMessage
	newer.next("PayloadMessage", &p)
	if len(p.Tasks) != 1 || aws.ToString(p.Tasks[0].Arn) != taskARN {
		t.Fatalf("the newer session got %+v", p)
	}
}

// TCS likewise: a second telemetry session for an instance closes the
// first (on one server; TCS keeps no key in etcd to see another's by).
func TestANewTCSSessionReplacesTheOld(t *testing.T) {
	srv := berthtest.Start(t)
	instanceARN := registerInstance(t, srv.Client(), "lab")
	endpoint := srv.Endpoint() + "/tcs"
	older := dialTCSAs(t, endpoint, creds, "lab", instanceARN)
	newer := dialTCSAs(t, endpoint, creds, "lab", instanceARN)
	wantReplaced(t, older.closedBy())
	if err := newer.conn.Send("PublishInstanceStatusRequest", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	newer.next("AckPublishInstanceStatus", &ack)
}
