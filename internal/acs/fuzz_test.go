package acs

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-project/berth/internal/controller/controllertest"
	"github.com/berth-project/berth/internal/state"
)

// The fuzz targets feed arbitrary bytes, as messages from an agent, to the
// function the sessions hand every message to (receive), on a session of a
// real back end (embedded etcd) with a real websocket to answer on. Beside
// not panicking, a message must leave the stored state and the session's
// own bookkeeping as the protocol allows: nothing on ACS, and on TCS only
// the health of the agent's own task and metrics of its own containers.

// fuzzRig is one agent's session setting: an instance with a task, the
// task of another instance in its cluster, and the task of another
// account in a cluster of the same name.
type fuzzRig struct {
	h      *controllertest.Harness
	e      *Endpoints
	agent  Agent
	conn   *conn
	own    string            // the agent's task's ARN
	ownKey string            // and its key
	revs   map[string]int64  // every stored key -> its revision before any report
	vars   map[string]string // what seeds name: {{own}}, {{neighbour}}, ...
}

func newFuzzRig(f *testing.F) *fuzzRig {
	h := controllertest.New(f)
	r := &fuzzRig{h: h, revs: map[string]int64{}, vars: map[string]string{}}
	home := h.Scope
	start := func(name string) (instanceARN, taskARN string) {
		ids := h.Fleet("lab", 1, 2048, 4096)
		_, inst, err := h.State.Instance(h.Scope, "lab", ids[0])
		if err != nil || inst == nil {
			f.Fatalf("instance %s: %v", ids[0], err)
		}
		h.TaskDefinition("web", 64)
		out := h.Call("StartTask", map[string]any{"cluster": "lab", "taskDefinition": "web", "containerInstances": []string{inst.ARN}})
		taskARN = out["tasks"].([]any)[0].(map[string]any)["taskArn"].(string)
		r.vars["{{"+name+"}}"] = taskARN
		return inst.ARN, taskARN
	}
	h.Scope.Account = "111122223333"
	start("other")
	h.Scope = home
	start("neighbour")
	instanceARN, own := start("own")
	r.own, r.ownKey = own, home.Key(state.KindTask, "lab", own[strings.LastIndex(own, "/")+1:])
	r.vars["{{instance}}"] = instanceARN
	r.vars["{{cluster}}"] = "arn:aws:ecs:" + home.Region + ":" + home.Account + ":cluster/lab"

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	backend := NewStateBackend(h.State, h.Clock.Now, log)
	f.Cleanup(backend.Close)
	agent, err := backend.ConnectAgent(context.Background(), home.Account, home.Region, "lab", instanceARN, AgentInfo{AgentVersion: "1.105.1"})
	if err != nil {
		f.Fatal(err)
	}
	r.agent = agent
	for _, o := range h.Store.List(state.Root, "", 0) {
		r.revs[o.Key] = o.Rev
	}
	if _, ok := r.revs[r.ownKey]; !ok {
		f.Fatalf("no record at %s", r.ownKey)
	}
	r.e = &Endpoints{Backend: backend, Metrics: NewTaskMetrics(), Log: log}
	r.conn = &conn{ws: loopbackWebsocket(f)}
	return r
}

// loopbackWebsocket returns the server side of a websocket on 127.0.0.1
// whose client side reads and discards whatever the server sends.
func loopbackWebsocket(f *testing.F) *websocket.Conn {
	server := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		server <- ws
	}))
	f.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { client.Close() })
	go func() {
		for {
			if _, _, err := client.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ws := <-server
	f.Cleanup(func() { ws.Close() })
	return ws
}

// seed adds a frame, with the rig's ARNs in place of its {{names}}.
func (r *fuzzRig) seed(f *testing.F, frame string) {
	for k, v := range r.vars {
		frame = strings.ReplaceAll(frame, k, v)
	}
	f.Add([]byte(frame))
}

// checkUnchanged fails when a stored record other than except (none when
// empty) has changed, or one was added.
func (r *fuzzRig) checkUnchanged(t *testing.T, except string) {
	for key, rev := range r.revs {
		if o, found := r.h.Store.Get(key); key != except && (!found || o.Rev != rev) {
			t.Fatalf("a message from the agent changed %s", key)
		}
	}
	if n := r.h.Store.Count(state.Root); n != len(r.revs) {
		t.Fatalf("%d records stored, %d before the message", n, len(r.revs))
	}
}

// Frames the stock agent sends on ACS (from the wire log in the notes),
// some naming tasks that are not the agent's.
var acsSeeds = []string{
	`{"type":"HeartbeatAckRequest","message":{"messageId":"hb-0"}}`,
	`{"type":"AckRequest","message":{"cluster":"{{cluster}}","containerInstance":"{{instance}}","messageId":"payload-1"}}`,
	`{"type":"AckRequest","message":{"messageId":"manifest-1"}}`,
	`{"type":"TaskStopVerificationMessage","message":{"messageId":"manifest-1","stopCandidates":[{"desiredStatus":"STOPPED","taskArn":"{{own}}","taskClusterArn":"{{cluster}}"},{"desiredStatus":"STOPPED","taskArn":"{{other}}","taskClusterArn":"{{cluster}}"}]}}`,
	`{"type":"TaskStopVerificationMessage","message":{"messageId":"manifest-1","stopCandidates":[{},null]}}`,
	`{"type":"IAMRoleCredentialsAckRequest","message":{"messageId":"creds-1","credentialsId":"c","expiration":"2026-11-24T15:41:23Z"}}`,
	`{"type":"NackRequest","message":{"messageId":"payload-1","reason":"no"}}`,
	`{"type":"AckRequest","message":null}`,
	`{"type":"PayloadMessage","message":{"tasks":[{"arn":"{{neighbour}}","desiredStatus":"STOPPED"}]}}`,
}

func FuzzACSFrame(f *testing.F) {
	r := newFuzzRig(f)
	for _, s := range acsSeeds {
		r.seed(f, s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A session as it is once its first payload and manifest went out.
		s := newACSSession(r.e, r.agent, r.conn)
		s.assigned = map[string]string{r.own: "RUNNING"}
		s.delivered[r.own] = &delivery{desired: "RUNNING", sentAt: time.Now()}
		s.inFlight["payload-1"] = []string{r.own}
		s.lastManifest, s.seq = "manifest-1", 2

		if err := s.receive(data); err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(s.delivered) != 1 || s.delivered[r.own] == nil || s.delivered[r.own].desired != "RUNNING" {
			t.Fatalf("deliveries changed: %+v", s.delivered)
		}
		for id := range s.inFlight {
			if id != "payload-1" {
				t.Fatalf("an agent's message added an in-flight payload %q", id)
			}
		}
		if len(s.assigned) != 1 || s.assigned[r.own] != "RUNNING" || s.lastManifest != "manifest-1" || s.seq != 2 {
			t.Fatalf("session state changed: assigned %v manifest %q seq %d", s.assigned, s.lastManifest, s.seq)
		}
		r.checkUnchanged(t, "")
	})
}

// Frames the stock agent sends on TCS (signature headers, then the JSON),
// and reports naming tasks and containers that are not the agent's.
var tcsSeeds = []string{
	"Authorization: AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE1234/20261124/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=8ee5\nHost: 127.0.0.1:8080\nX-Amz-Date: 20261124T144123Z\n\n" +
		`{"type":"PublishMetricsRequest","message":{"metadata":{"cluster":"lab","containerInstance":"{{instance}}","fin":true,"idle":true,"messageId":"ab38"},"timestamp":1795531283.682}}`,
	`{"type":"PublishMetricsRequest","message":{"metadata":{"cluster":"lab","containerInstance":"{{instance}}","fin":true,"idle":false,"messageId":"3c40"},"taskMetrics":[{"containerMetrics":[{"containerName":"app","cpuStatsSet":{"max":0.02,"min":0,"sampleCount":5,"sum":0.05},"memoryStatsSet":{"max":3,"min":2,"sampleCount":5,"sum":12}}],"taskArn":"{{own}}","taskDefinitionFamily":"web","taskDefinitionVersion":"1"}],"timestamp":1795531303.67}}`,
	`{"type":"PublishMetricsRequest","message":{"taskMetrics":[{"containerMetrics":[{"containerName":"app","memoryStatsSet":{"sampleCount":1,"sum":666}}],"taskArn":"{{other}}"},{"containerMetrics":[{"containerName":"app","memoryStatsSet":{"sampleCount":1,"sum":666}}],"taskArn":"{{neighbour}}"},{"containerMetrics":[{"containerName":"invented","memoryStatsSet":{"sampleCount":1,"sum":666}}],"taskArn":"{{own}}"}]}}`,
	`{"type":"PublishMetricsRequest","message":{"taskMetrics":[null,{"containerMetrics":[null,{}]}]}}`,
	`{"type":"PublishHealthRequest","message":{"metadata":{"cluster":"lab","containerInstance":"{{instance}}","fin":true,"messageId":"h1"},"tasks":[{"containers":[{"containerName":"app","healthStatus":"UNHEALTHY"}],"taskArn":"{{own}}"}],"timestamp":1795531303.67}}`,
	`{"type":"PublishHealthRequest","message":{"tasks":[{"containers":[{"containerName":"app","healthStatus":"UNHEALTHY"}],"taskArn":"{{neighbour}}"},{"containers":[{"containerName":"app","healthStatus":"HEALTHY"}],"taskArn":"{{other}}"}]}}`,
	`{"type":"PublishInstanceStatusRequest","message":{"metadata":{"cluster":"lab","containerInstance":"{{instance}}","requestId":"73bb"},"statuses":[{"lastStatusChange":1795531284.683,"lastUpdated":1795531283.666,"status":"OK","type":"ContainerRuntime"}],"timestamp":1795531303.682}}`,
}

func FuzzTCSFrame(f *testing.F) {
	r := newFuzzRig(f)
	for _, s := range tcsSeeds {
		r.seed(f, s)
	}
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(r.e.Metrics)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Each input on its own: what an earlier one kept does not fail it.
		r.e.Metrics.mu.Lock()
		clear(r.e.Metrics.latest)
		r.e.Metrics.mu.Unlock()
		s := newTCSSession(r.e, r.agent)
		s.c = r.conn
		if err := s.receive(ctx, data); err != nil {
			t.Fatalf("receive: %v", err)
		}
		r.checkUnchanged(t, r.ownKey)
		_, task, err := r.h.State.Task(scopeOf(r.agent), "lab", r.own)
		if err != nil || task == nil || task.InstanceID != r.agent.InstanceID || task.DesiredStatus != "RUNNING" || len(task.Containers) != 1 {
			t.Fatalf("the agent's own task is not intact: %+v %v", task, err)
		}
		r.e.Metrics.mu.Lock()
		for k := range r.e.Metrics.latest {
			if k != (metricKey{r.agent.Account, "lab", r.own, "app"}) {
				r.e.Metrics.mu.Unlock()
				t.Fatalf("metrics kept for %+v, which is not the agent's container", k)
			}
		}
		r.e.Metrics.mu.Unlock()
		if _, err := registry.Gather(); err != nil {
			t.Fatalf("/metrics cannot be served: %v", err)
		}
	})
}
