package acs_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-project/berth/agent/protocol"
	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/internal/berthtest"
)

// An agent that sends one frame larger than the protocol needs has its
// session closed; the server does not buffer the frame.
func TestOversizedFrameClosesTheSession(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("lab")}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("lab")})
	if err != nil {
		t.Fatal(err)
	}
	instanceARN := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	poll, err := c.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String("lab"), ContainerInstance: aws.String(instanceARN)})
	if err != nil {
		t.Fatal(err)
	}

	// closed sends frame and expects the server to close the connection.
	closed := func(t *testing.T, conn *protocol.Conn, size int) {
		t.Helper()
		// The server may close while the frame is still going out.
		conn.Send("AckRequest", acsmsg.AckRequest{MessageId: aws.String(strings.Repeat("x", size))})
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := conn.Read()
			if err == nil {
				if f.Type == "HeartbeatMessage" || f.Type == "TaskManifestMessage" {
					continue
				}
				t.Fatalf("got %s after an oversized frame", f.Type)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server kept the session open after an oversized frame")
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
				t.Fatalf("closed with %v, want 1009 (message too big)", ce)
			}
			return
		}
	}

	t.Run("ACS: 1 MiB", func(t *testing.T) {
		q := url.Values{"clusterArn": {"lab"}, "containerInstanceArn": {instanceARN}, "agentVersion": {"1.105.1"}, "protocolVersion": {"2"}, "seqNum": {"1"}}
		conn, err := protocol.Dial(ctx, aws.ToString(poll.Endpoint), q, creds, berthtest.Region)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed(t, conn, 2<<20)
	})
	t.Run("TCS: 4 MiB", func(t *testing.T) {
		q := url.Values{"cluster": {"lab"}, "containerInstance": {instanceARN}}
		conn, err := protocol.Dial(ctx, aws.ToString(poll.TelemetryEndpoint), q, creds, berthtest.Region)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed(t, conn, 5<<20)
	})
}
