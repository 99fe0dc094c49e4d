package acs

import (
	"context"
	"encoding/json"
	acsmsg "github.com/berth-project/berth/api/acs"
	"net/http"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/api/tcs"
)

// A TCS session receives an agent's telemetry. Berth keeps what DescribeTasks
// shows (container health), exposes the latest container metrics on
// /metrics, and acknowledges instance status.

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
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(tcsReadLimit)
	e.wg.Add(1)
	defer e.wg.Done()
	defer ws.Close()
	ctx, cancel := e.sessionContext(r)
	defer cancel()

	c := &conn{ws: ws}
	frames := readFrames(ws, e.log())
	heartbeat := time.NewTicker(orDefault(e.Heartbeat, defaultHeartbeat))
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			if c.send("HeartbeatMessage", tcs.HeartbeatMessage{Healthy: ecs.Ptr(true)}) != nil {
				return
			}
		case f, ok := <-frames:
			if !ok {
				return
			}
			if e.handleTelemetry(ctx, c, agent, f) != nil {
				return
			}
		}
	}
}

func (e *Endpoints) handleTelemetry(ctx context.Context, c *conn, agent Agent, f acsmsg.Frame) error {
	switch f.Type {
	case "PublishHealthRequest":
		var m tcs.PublishHealthRequest
		if err := json.Unmarshal(f.Message, &m); err == nil && len(m.Tasks) > 0 {
			if err := e.Backend.ReportHealth(ctx, agent, m.Tasks); err != nil {
				e.log().Warn("could not record container health", "instance", agent.InstanceARN, "err", err)
			}
		}
		return c.send("AckPublishHealth", tcs.AckPublishHealth{Message: ecs.Ptr("ok")})
	case "PublishMetricsRequest":
		var m tcs.PublishMetricsRequest
		if err := json.Unmarshal(f.Message, &m); err == nil && e.Metrics != nil {
			e.Metrics.record(agent.Cluster, m)
		}
		return c.send("AckPublishMetric", tcs.AckPublishMetric{Message: ecs.Ptr("ok")})
	case "PublishInstanceStatusRequest":
		return c.send("AckPublishInstanceStatus", tcs.AckPublishInstanceStatus{Message: ecs.Ptr("ok")})
	}
	return nil
}
