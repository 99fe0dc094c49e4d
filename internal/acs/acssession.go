package acs

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// An ACS session keeps one agent's tasks in step with the control plane:
// whenever state changes it compares what the agent should have (every task
// of its instance not yet reported STOPPED, with its desired status) with
// what it has acknowledged, and sends the difference. A stop is the task
// sent again with desiredStatus STOPPED. Unacknowledged payloads are sent
// again; the agent ignores repeats, so this is safe after any reconnect.

func (e *Endpoints) serveACS(w http.ResponseWriter, r *http.Request) {
	caller, err := e.Authenticate(r)
	if err != nil {
		refuse(w, http.StatusForbidden, "AccessDeniedException", err.Error())
		return
	}
	q := r.URL.Query()
	info := AgentInfo{AgentVersion: q.Get("agentVersion"), AgentHash: q.Get("agentHash"), DockerVersion: q.Get("dockerVersion")}
	agent, err := e.Backend.ConnectAgent(r.Context(), caller.AccountID, caller.Region, q.Get("clusterArn"), q.Get("containerInstanceArn"), info)
	if err != nil {
		refuse(w, http.StatusBadRequest, "InactiveInstanceException", err.Error())
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		e.Backend.DisconnectAgent(context.Background(), agent)
		return // the upgrader has answered
	}
	ws.SetReadLimit(acsReadLimit)
	if !e.beginSession() {
		e.Backend.DisconnectAgent(context.Background(), agent)
		closeSession(ws, context.Canceled) // the server is shutting down
		return
	}
	defer e.wg.Done()
	ctx, cancel := e.sessionContext(r)
	defer cancel()

	log := e.log().With("instance", agent.InstanceARN)
	log.Info("agent connected", "agentVersion", info.AgentVersion)
	s := newACSSession(e, agent, &conn{ws: ws})
	err = s.run(ctx, readMessages(ctx, ws, log))
	// The session's end is recorded before the agent hears of it: an agent
	// told it was replaced finds the newer session's state as it was left.
	e.Backend.DisconnectAgent(context.Background(), agent)
	closeSession(ws, err)
	log.Info("agent disconnected", "reason", err)
}

func newACSSession(e *Endpoints, agent Agent, c *conn) *acsSession {
	return &acsSession{e: e, agent: agent, c: c, delivered: map[string]*delivery{}, inFlight: map[string][]string{}}
}

// delivery is what the session knows about one task at the agent.
type delivery struct {
	desired string    // the desired status last sent
	acked   bool      // the agent acknowledged that payload
	sentAt  time.Time // when it was sent
}

type acsSession struct {
	e     *Endpoints
	agent Agent
	c     *conn

	seq          int32                // payload sequence number, also the manifests' timeline
	delivered    map[string]*delivery // by task ARN
	inFlight     map[string][]string  // payload message id -> task ARNs
	lastManifest string
	assigned     map[string]string // task ARN -> desired status, as of the last sync
}

func (s *acsSession) run(ctx context.Context, messages <-chan []byte) error {
	heartbeat := time.NewTicker(orDefault(s.e.Heartbeat, defaultHeartbeat))
	defer heartbeat.Stop()
	resend := time.NewTicker(time.Second)
	defer resend.Stop()
	manifest := time.NewTicker(orDefault(s.e.ManifestEvery, defaultManifestEvery))
	defer manifest.Stop()

	for {
		changed := s.e.Backend.Changed(s.agent)
		liveness := s.e.Backend.LivenessChanged(s.agent)
		// Before anything is sent: a replaced session says nothing more.
		if s.e.Backend.Replaced(s.agent) {
			return errReplaced
		}
		if err := s.sync(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.agent.Lost:
			return errLivenessLost
		case <-changed:
		case <-liveness:
		case <-resend.C:
		case <-heartbeat.C:
			if err := s.c.send("HeartbeatMessage", acsmsg.HeartbeatMessage{Healthy: ecs.Ptr(true), MessageId: ecs.Ptr(uuid.NewString())}); err != nil {
				return err
			}
		case <-manifest.C:
			if err := s.sendManifest(); err != nil {
				return err
			}
		case data, ok := <-messages:
			if !ok {
				return errConnectionClosed
			}
			if err := s.receive(data); err != nil {
				return err
			}
		}
	}
}

type sessionError string

func (e sessionError) Error() string { return string(e) }

const errConnectionClosed = sessionError("connection closed")

// errLivenessLost ends a session whose liveness key went with its lease:
// the leader marks its instance disconnected, and the agent, connecting
// again, is marked connected on a live lease.
const errLivenessLost = sessionError("liveness lease lost")

// errReplaced ends a session whose instance connected again: the liveness
// key names the newer session (state.AgentLiveness).
const errReplaced = sessionError("replaced by a newer session")

// sync sends every task whose desired status the agent has not
// acknowledged, or whose payload went unacknowledged too long.
func (s *acsSession) sync() error {
	now := time.Now()
	resendAfter := orDefault(s.e.ResendAfter, defaultResendAfter)
	need := func(arn, desired string) bool {
		d := s.delivered[arn]
		return d == nil || d.desired != desired || (!d.acked && now.Sub(d.sentAt) >= resendAfter)
	}
	tasks, err := s.e.Backend.AssignedTasks(s.agent, need)
	if err != nil {
		return err
	}
	if s.assigned == nil {
		s.assigned = make(map[string]string, len(tasks))
	}
	clear(s.assigned)
	var due []acsmsg.Task
	var arns []string
	for _, t := range tasks {
		s.assigned[t.ARN] = t.DesiredStatus
		if t.Task == nil {
			continue
		}
		due = append(due, *t.Task)
		arns = append(arns, t.ARN)
		s.delivered[t.ARN] = &delivery{desired: t.DesiredStatus, sentAt: now}
	}
	for arn := range s.delivered {
		if _, ok := s.assigned[arn]; !ok {
			delete(s.delivered, arn) // reported STOPPED: nothing more to say about it
		}
	}
	if len(due) == 0 {
		return nil
	}
	s.seq++
	id := uuid.NewString()
	s.inFlight[id] = arns
	return s.c.send("PayloadMessage", acsmsg.PayloadMessage{
		ClusterArn:           ecs.Ptr(s.agent.ClusterARN),
		ContainerInstanceArn: ecs.Ptr(s.agent.InstanceARN),
		MessageId:            ecs.Ptr(id),
		SeqNum:               ecs.Ptr(s.seq),
		GeneratedAt:          ecs.Ptr(now.Unix()),
		Tasks:                due,
	})
}

// sendManifest lists the tasks the agent should be running; the agent
// answers with the ones it runs that are not on the list.
func (s *acsSession) sendManifest() error {
	s.seq++
	s.lastManifest = uuid.NewString()
	list := []acsmsg.TaskIdentifier{}
	for arn, desired := range s.assigned {
		list = append(list, acsmsg.TaskIdentifier{TaskArn: ecs.Ptr(arn), TaskClusterArn: ecs.Ptr(s.agent.ClusterARN), DesiredStatus: ecs.Ptr(desired)})
	}
	return s.c.send("TaskManifestMessage", acsmsg.TaskManifestMessage{
		ClusterArn:           ecs.Ptr(s.agent.ClusterARN),
		ContainerInstanceArn: ecs.Ptr(s.agent.InstanceARN),
		MessageId:            ecs.Ptr(s.lastManifest),
		GeneratedAt:          ecs.Ptr(time.Now().Unix()),
		Timeline:             ecs.Ptr(int64(s.seq)),
		Tasks:                list,
	})
}

// receive decodes and handles one message of the agent. Nothing the agent
// sends on ACS changes stored state: acknowledgements touch the session's
// own bookkeeping, by the message ids it generated, and a stop
// verification is answered to this agent alone.
func (s *acsSession) receive(data []byte) error {
	f, ok := s.e.decodeFrame(s.agent, data)
	if !ok {
		return nil
	}
	return s.handle(f)
}

func (s *acsSession) handle(f acsmsg.Frame) error {
	switch f.Type {
	case "AckRequest":
		var ack acsmsg.AckRequest
		if json.Unmarshal(f.Message, &ack) == nil {
			for _, arn := range s.inFlight[ecs.Val(ack.MessageId)] {
				if d := s.delivered[arn]; d != nil {
					d.acked = true
				}
			}
			delete(s.inFlight, ecs.Val(ack.MessageId))
		}
	case "TaskStopVerificationMessage":
		var m acsmsg.TaskStopVerificationMessage
		if json.Unmarshal(f.Message, &m) != nil || ecs.Val(m.MessageId) != s.lastManifest {
			return nil
		}
		// The agent runs these but they are not on the manifest: stop every
		// one the control plane does not want running.
		stop := []acsmsg.TaskIdentifier{}
		for _, c := range m.StopCandidates {
			if s.assigned[ecs.Val(c.TaskArn)] != "RUNNING" {
				stop = append(stop, acsmsg.TaskIdentifier{TaskArn: c.TaskArn, TaskClusterArn: c.TaskClusterArn, DesiredStatus: ecs.Ptr("STOPPED")})
			}
		}
		return s.c.send("TaskStopVerificationAck", acsmsg.TaskStopVerificationAck{
			MessageId: m.MessageId, GeneratedAt: ecs.Ptr(time.Now().Unix()), StopTasks: stop,
		})
	case "HeartbeatAckRequest", "IAMRoleCredentialsAckRequest", "NackRequest":
		// Nothing to do: their arrival alone shows the agent is alive.
	default:
		s.e.log().Debug("ignoring agent message", "type", f.Type)
	}
	return nil
}
