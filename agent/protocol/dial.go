// Package protocol is the agent's side of the ECS agent protocol transport:
// a SigV4-signed websocket upgrade, then frames in both directions. `berth
// agent` uses it, as do the tests of the control plane's endpoints (and,
// later, the simulated fleet): one implementation of the client side.
package protocol

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	acsmsg "github.com/berth-project/berth/api/acs"
)

// Silence is how long an agent waits for any message before it takes the
// connection for dead and reconnects (the control plane heartbeats every 20 s).
const Silence = 90 * time.Second

// emptyHash is the SHA-256 of an empty body, what a signed GET carries.
var emptyHash = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

// Conn is one agent-protocol websocket.
type Conn struct {
	ws *websocket.Conn
	mu sync.Mutex // one writer at a time
}

// Dial opens <endpoint>/ws?<query> (endpoint as DiscoverPollEndpoint gave it,
// http or https), signing the upgrade as the stock agent does: a GET of the
// URL with its query, service "ecs", an empty payload.
func Dial(ctx context.Context, endpoint string, query url.Values, creds aws.Credentials, region string) (*Conn, error) {
	u, err := url.Parse(strings.TrimRight(endpoint, "/") + "/ws")
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()
	signed, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, signed, emptyHash, "ecs", region, time.Now()); err != nil {
		return nil, err
	}
	header := http.Header{}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := signed.Header.Get(h); v != "" {
			header.Set(h, v)
		}
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, fmt.Errorf("%s refused the connection (%s): %s", u.Path, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil, err
	}
	return &Conn{ws: ws}, nil
}

// Send writes one frame.
func (c *Conn) Send(typ string, msg any) error {
	data, err := acsmsg.EncodeFrame(typ, msg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// Read waits for the next frame; an error means the connection is over.
func (c *Conn) Read() (acsmsg.Frame, error) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return acsmsg.Frame{}, err
		}
		if f, err := acsmsg.DecodeFrame(data); err == nil {
			return f, nil
		}
	}
}

// SetReadDeadline bounds the next Read: the agent's liveness check.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// Close ends the connection.
func (c *Conn) Close() error { return c.ws.Close() }

// Replaced reports whether a session ended because the control plane
// closed it for a newer session of the same container instance (close
// code 1008): another agent holds the instance now, so coming straight
// back would only take it from that one, in turns.
func Replaced(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == websocket.ClosePolicyViolation
}
