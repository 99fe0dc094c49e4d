package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
	"github.com/berth-project/berth/internal/daemon"
)

// logBuffer is a server's log, read while the server writes it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func withLog(w *logBuffer) berthtest.Option {
	return func(c *daemon.Config) { c.Log = slog.New(slog.NewTextHandler(w, nil)) }
}

// An agent that sends twenty thousand frames the server cannot read gets
// a handful of log lines, not twenty thousand: the daemon's log is rate
// limited, whatever logger it was given.
func TestGarbageFramesDoNotFloodTheLog(t *testing.T) {
	ctx := context.Background()
	logs := &logBuffer{}
	srv := berthtest.Start(t, withLog(logs))
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
	q := url.Values{"clusterArn": {"lab"}, "containerInstanceArn": {instanceARN}, "agentVersion": {"1.105.1"}, "protocolVersion": {"2"}, "seqNum": {"1"}}
	ws := dialSigned(t, aws.ToString(poll.Endpoint), q)

	const frames = 20_000
	for i := range frames {
		garbage := []byte("\x00\xffnot a frame " + strings.Repeat("x", i%64))
		if err := ws.WriteMessage(websocket.BinaryMessage, garbage); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	ws.Close()
	// The session reads its frames in order and logs its end after the
	// last: once it has, every frame has been dealt with.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "agent disconnected") {
		if time.Now().After(deadline) {
			t.Fatalf("the session did not end; the log:\n%.4000s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := logs.String()
	lines := strings.Count(out, "\n")
	// The frames are counted, and the count is logged at most once a
	// minute (internal/acs, DroppedReports).
	unreadable := strings.Count(out, "lastKind=unreadable")
	if unreadable == 0 || lines > 20 {
		t.Fatalf("%d frames gave %d log lines (%d about unreadable frames), want 1 to 20 lines:\n%.4000s", frames, lines, unreadable, out)
	}
}

// dialSigned opens <endpoint>/ws signed as an agent with the development
// key, as a raw websocket, to send what no agent would.
func dialSigned(t *testing.T, endpoint string, q url.Values) *websocket.Conn {
	t.Helper()
	u, err := url.Parse(strings.TrimRight(endpoint, "/") + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	empty := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), "ecs", berthtest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Authorization": {req.Header.Get("Authorization")}, "X-Amz-Date": {req.Header.Get("X-Amz-Date")}}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	ws, _, err := websocket.DefaultDialer.Dial(u.String(), header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}
