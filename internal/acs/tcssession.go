package acs

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/api/tcs"
)

// A TCS session receives an agent's telemetry. Berth keeps what DescribeTasks
// shows (container health), keeps the latest container metrics for
// /metrics (when the operator exports them), and acknowledges instance
// status. Every report counts only for the tasks of the session's own
// instance (ownMetrics, ownHealth). An instance has one TCS session per
// server: a newer one replaces the older, which is closed.

func (e *Endpoints) serveTCS(w http.ResponseWriter, r *http.Request) {
	caller, err := e.Authenticate(r)
	if err != nil {
		refuse(w, http.StatusForbidden, "AccessDeniedException", err.Error())
		return
	}
	q := r.URL.Query()
	agent, err := e.Backend.LookupAgent(r.Context(), caller.AccountID, caller.Region, q.Get("cluster"), q.Get("containerInstance"))
	if err != nil {
		refuse(w, http.StatusBadRequest, "ResourceValidationException", err.Error())
		return
	}
	// The session takes over before the handshake is answered, so that an
	// agent that connected after another, as it saw it, is the newer here.
	s := newTCSSession(e, agent)
	e.takeOverTCS(s)
	defer e.releaseTCS(s)
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(tcsReadLimit)
	s.c = &conn{ws: ws}
	if !e.beginSession() {
		closeSession(ws, context.Canceled) // the server is shutting down
		return
	}
	defer e.wg.Done()
	ctx, cancel := e.sessionContext(r)
	defer cancel()

	err = s.run(ctx, readMessages(ctx, ws, e.log()))
	closeSession(ws, err)
}

type tcsSession struct {
	e     *Endpoints
	agent Agent
	c     *conn
	// replaced is closed when a newer session of the instance takes over.
	replaced chan struct{}
}

func newTCSSession(e *Endpoints, agent Agent) *tcsSession {
	return &tcsSession{e: e, agent: agent, replaced: make(chan struct{})}
}

// takeOverTCS makes s the instance's session, ending the one before.
func (e *Endpoints) takeOverTCS(s *tcsSession) {
	e.init()
	e.tcsMu.Lock()
	defer e.tcsMu.Unlock()
	k := instanceKey(s.agent)
	if old := e.tcsSessions[k]; old != nil {
		close(old.replaced)
	}
	e.tcsSessions[k] = s
}

// releaseTCS forgets s, unless a newer session took its place.
func (e *Endpoints) releaseTCS(s *tcsSession) {
	e.tcsMu.Lock()
	defer e.tcsMu.Unlock()
	if k := instanceKey(s.agent); e.tcsSessions[k] == s {
		delete(e.tcsSessions, k)
	}
}

func (s *tcsSession) run(ctx context.Context, messages <-chan []byte) error {
	heartbeat := time.NewTicker(orDefault(s.e.Heartbeat, defaultHeartbeat))
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.replaced:
			return errReplaced
		case <-heartbeat.C:
			if err := s.c.send("HeartbeatMessage", tcs.HeartbeatMessage{Healthy: ecs.Ptr(true)}); err != nil {
				return err
			}
		case data, ok := <-messages:
			if !ok {
				return errConnectionClosed
			}
			if err := s.receive(ctx, data); err != nil {
				return err
			}
		}
	}
}

// receive decodes and handles one message of the agent, and acknowledges
// it. An error ends the session (the acknowledgement could not be sent).
func (s *tcsSession) receive(ctx context.Context, data []byte) error {
	f, ok := s.e.decodeFrame(s.agent, data)
	if !ok {
		return nil
	}
	switch f.Type {
	case "PublishHealthRequest":
		var m tcs.PublishHealthRequest
		if err := json.Unmarshal(f.Message, &m); err == nil {
			if own := ownHealth(s.e, s.agent, m.Tasks); len(own) > 0 {
				if err := s.e.Backend.ReportHealth(ctx, s.agent, own); err != nil {
					s.e.log().Warn("could not record container health", "instance", s.agent.InstanceARN, "err", err)
				}
			}
		}
		return s.c.send("AckPublishHealth", tcs.AckPublishHealth{Message: ecs.Ptr("ok")})
	case "PublishMetricsRequest":
		var m tcs.PublishMetricsRequest
		if err := json.Unmarshal(f.Message, &m); err == nil {
			// Sifted even when nothing keeps them: the count of dropped
			// reports shows a misbehaving agent whatever /metrics exports.
			if own := ownMetrics(s.e, s.agent, m.TaskMetrics); s.e.Metrics != nil {
				s.e.Metrics.record(s.agent, own)
			}
		}
		return s.c.send("AckPublishMetric", tcs.AckPublishMetric{Message: ecs.Ptr("ok")})
	case "PublishInstanceStatusRequest":
		return s.c.send("AckPublishInstanceStatus", tcs.AckPublishInstanceStatus{Message: ecs.Ptr("ok")})
	}
	return nil
}
