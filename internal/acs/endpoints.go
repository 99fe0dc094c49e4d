package acs

import (
	"context"
	"encoding/json"
	"errors"
	acsmsg "github.com/berth-project/berth/api/acs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth-project/berth/api/auth"
)

// Endpoints serves the two websockets at /acs/ws and /tcs/ws (the paths the
// stock agent derives from DiscoverPollEndpoint's answer).
type Endpoints struct {
	Backend Backend
	// Authenticate verifies the SigV4 signature of an upgrade request.
	Authenticate func(r *http.Request) (auth.Caller, error)
	Log          *slog.Logger
	Metrics      *TaskMetrics // where published container metrics go; nil drops them
	// Dropped counts the reports agents made that were not accepted; nil
	// counts them where nothing exports them.
	Dropped *DroppedReports

	// Timings; zero values take the defaults below.
	Heartbeat     time.Duration // server heartbeats; the agent reconnects after a minute of silence
	ResendAfter   time.Duration // a payload not acknowledged by then is sent again
	ManifestEvery time.Duration // how often the task manifest goes out

	// sessions counts the sessions being served; once Shutdown has begun
	// (shut), none is added, so its Wait cannot race with an Add.
	sessionsMu sync.Mutex
	shut       bool
	wg         sync.WaitGroup
	initOnce   sync.Once
	done       chan struct{}   // closed by Shutdown: every session ends
	orphans    *DroppedReports // counts when Dropped is nil

	tcsMu       sync.Mutex
	tcsSessions map[string]*tcsSession // by instance (instanceKey): the newest one
}

func (e *Endpoints) init() {
	e.initOnce.Do(func() {
		e.done = make(chan struct{})
		e.orphans = NewDroppedReports()
		e.tcsSessions = map[string]*tcsSession{}
	})
}

func (e *Endpoints) dropped() *DroppedReports {
	if e.Dropped != nil {
		return e.Dropped
	}
	e.init()
	return e.orphans
}

// instanceKey names an agent's instance among every account's.
func instanceKey(a Agent) string {
	return a.Account + "/" + a.Region + "/" + a.Cluster + "/" + a.InstanceID
}

// Shutdown ends every session and waits for them. Hijacked websocket
// connections outlive http.Server.Shutdown, so the server calls this too.
func (e *Endpoints) Shutdown() {
	e.init()
	e.sessionsMu.Lock()
	if !e.shut {
		e.shut = true
		close(e.done)
	}
	e.sessionsMu.Unlock()
	e.wg.Wait()
}

// beginSession counts a session in, unless Shutdown has begun; the caller
// then ends it with e.wg.Done.
func (e *Endpoints) beginSession() bool {
	e.sessionsMu.Lock()
	defer e.sessionsMu.Unlock()
	if e.shut {
		return false
	}
	e.wg.Add(1)
	return true
}

// sessionContext ends with the request or with Shutdown.
func (e *Endpoints) sessionContext(r *http.Request) (context.Context, context.CancelFunc) {
	e.init()
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-e.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

const (
	defaultHeartbeat     = 20 * time.Second
	defaultResendAfter   = 5 * time.Second
	defaultManifestEvery = 60 * time.Second
	writeTimeout         = 10 * time.Second

	// The largest frame an agent may send; a larger one ends the session
	// (gorilla/websocket answers it with close code 1009, message too big),
	// so one frame cannot take the server's memory. On ACS the agent sends
	// only acknowledgements, heartbeats and stop-verification lists of task
	// identifiers (a few hundred bytes each): 1 MiB holds thousands. On TCS
	// it sends metric and health batches of every task on the instance,
	// which the stock agent splits near 1 MB each: 4 MiB leaves room.
	acsReadLimit = 1 << 20
	tcsReadLimit = 4 << 20
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  16 << 10,
	WriteBufferSize: 16 << 10,
	// Agents are not browsers: there is no Origin to check.
	CheckOrigin: func(*http.Request) bool { return true },
}

// ServeHTTP serves GET /acs/ws and GET /tcs/ws.
func (e *Endpoints) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/acs/ws":
		e.serveACS(w, r)
	case "/tcs/ws":
		e.serveTCS(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (e *Endpoints) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// refuse answers a failed handshake the way the agent decodes it: a non-101
// status with {"type": <exception>, "message": ...}.
func refuse(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"type": typ, "message": msg})
}

// conn serialises writes on a websocket: gorilla allows one writer at a time.
type conn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *conn) send(typ string, msg any) error {
	data, err := acsmsg.EncodeFrame(typ, msg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// readMessages delivers the messages of c until the connection ends, then
// closes the channel; it gives up when ctx ends (the session is over and
// reads no more). The session decodes them (decodeFrame), so that the one
// path from bytes to state is the session's.
func readMessages(ctx context.Context, c *websocket.Conn, log *slog.Logger) <-chan []byte {
	out := make(chan []byte, 16)
	go func() {
		defer close(out)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				if errors.Is(err, websocket.ErrReadLimit) {
					log.Warn("agent sent a frame over the size limit: closing the session")
				}
				return
			}
			select {
			case out <- data:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// decodeFrame reads one message of an agent; an unreadable one is dropped
// and counted (not logged each time: an agent could send nothing else).
func (e *Endpoints) decodeFrame(a Agent, data []byte) (acsmsg.Frame, bool) {
	f, err := acsmsg.DecodeFrame(data)
	if err != nil {
		e.dropped().add(e.log(), a, droppedUnreadable, 1)
		return acsmsg.Frame{}, false
	}
	return f, true
}

// Why the server ends a session, as the close frame tells the agent. The
// stock agent reconnects at once after 1001 (going away) and backs off
// after 1008 (policy violation): a replaced session is not to come
// straight back, lest two agents claiming one instance take turns.
const (
	closeReplaced = "replaced by a newer session of this container instance"
	closeLost     = "liveness lease lost: connect again"
	closeShutdown = "the server is shutting down"
)

// closeSession tells the agent why the server ends its session, when the
// server is the one ending it, and closes the connection.
func closeSession(ws *websocket.Conn, err error) {
	code, reason := 0, ""
	switch {
	case errors.Is(err, errReplaced):
		code, reason = websocket.ClosePolicyViolation, closeReplaced
	case errors.Is(err, errLivenessLost):
		code, reason = websocket.CloseGoingAway, closeLost
	case errors.Is(err, context.Canceled):
		code, reason = websocket.CloseGoingAway, closeShutdown
	}
	if code != 0 {
		// Best effort: a peer that is gone does not read it anyway.
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
	ws.Close()
}
