package acs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/google/uuid"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/api/tcs"
	"github.com/berth-project/berth/internal/store"
)

// StateBackend is the agent endpoints' Backend on Berth's state: it says
// which instance an agent is, which tasks it should run, and records what
// it reports over TCS. It keeps its agents' liveness keys on a lease of
// its own (liveness.go): Close it before the store's etcd client.
type StateBackend struct {
	state  *state.State
	now    func() time.Time
	log    *slog.Logger
	live   *liveness
	server string // who holds the sessions, as liveness keys name it
	// liveKeys indexes the liveness keys each by itself, so a session can
	// wait for its own key to change without waking at every write.
	liveKeys *store.Index
}

var _ Backend = (*StateBackend)(nil)

// NewStateBackend returns the back end on st; now is the clock (time.Now
// when nil).
func NewStateBackend(st *state.State, now func() time.Time, log *slog.Logger) *StateBackend {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	host, _ := os.Hostname()
	liveKeys := st.Store().AddIndex(state.Root+state.KindAgent+"/", func(o *store.Object) string { return o.Key })
	return &StateBackend{state: st, now: now, log: log, live: &liveness{store: st.Store(), ttl: LivenessTTL},
		server: host + "/" + strconv.Itoa(os.Getpid()), liveKeys: liveKeys}
}

// Close revokes the liveness lease: the liveness keys of sessions still
// open vanish at once, and those sessions end (Agent.Lost).
func (b *StateBackend) Close() { b.live.close() }

// agentInstance finds the instance an agent names when it connects: the
// cluster as a name or ARN, the instance by ARN, ACTIVE or DRAINING.
func (b *StateBackend) agentInstance(sc state.Scope, clusterRef, instanceARN string) (*store.Object, *state.Instance, *state.Cluster, error) {
	_, cl, err := b.state.ActiveCluster(sc, clusterRef)
	if err != nil {
		return nil, nil, nil, err
	}
	o, inst, err := b.state.Instance(sc, cl.Name, instanceARN)
	if err != nil {
		return nil, nil, nil, err
	}
	if inst == nil || inst.Status == state.StatusInactive {
		return nil, nil, nil, fmt.Errorf("container instance %s is not registered in cluster %s", instanceARN, cl.Name)
	}
	return o, inst, cl, nil
}

func agentOf(sc state.Scope, cl *state.Cluster, inst *state.Instance) Agent {
	return Agent{Account: sc.Account, Region: sc.Region, Cluster: cl.Name, ClusterARN: cl.ARN, InstanceARN: inst.ARN, InstanceID: inst.ID}
}

func (b *StateBackend) LookupAgent(ctx context.Context, account, region, cluster, instanceARN string) (Agent, error) {
	sc := state.Scope{Account: account, Region: region}
	_, inst, cl, err := b.agentInstance(sc, cluster, instanceARN)
	if err != nil {
		return Agent{}, err
	}
	return agentOf(sc, cl, inst), nil
}

// ConnectAgent marks the instance connected to a new session and writes
// the session's liveness key on this server's lease, in one transaction.
func (b *StateBackend) ConnectAgent(ctx context.Context, account, region, cluster, instanceARN string, info AgentInfo) (Agent, error) {
	agent, err := b.connect(ctx, account, region, cluster, instanceARN, info)
	if errors.Is(err, store.ErrLeaseLost) {
		// The lease expired before this server noticed: once more, on a new one.
		agent, err = b.connect(ctx, account, region, cluster, instanceARN, info)
	}
	return agent, err
}

func (b *StateBackend) connect(ctx context.Context, account, region, cluster, instanceARN string, info AgentInfo) (Agent, error) {
	sc := state.Scope{Account: account, Region: region}
	lease, err := b.live.lease(ctx)
	if err != nil {
		return Agent{}, err
	}
	var agent Agent
	err = b.update(ctx, func() ([]store.Op, error) {
		o, inst, cl, err := b.agentInstance(sc, cluster, instanceARN)
		if err != nil {
			return nil, err
		}
		cp := *inst
		cp.AgentConnected = true
		cp.AgentDisconnectedAt = nil
		cp.AgentSession = uuid.NewString()
		cp.VersionInfo = ecs.VersionInfo{AgentVersion: strPtr(info.AgentVersion), AgentHash: strPtr(info.AgentHash), DockerVersion: strPtr(info.DockerVersion)}
		cp.Version++
		agent = agentOf(sc, cl, &cp)
		agent.Session = cp.AgentSession
		agent.Lost = lease.Done()
		// The key is overwritten whatever it says: the record's guard
		// decides between sessions, and the key follows the record.
		live := state.AgentLiveness{Session: cp.AgentSession, Server: b.server}
		return []store.Op{store.Put(o.Key, &cp, o.Rev), store.PutLeasedAny(sc.AgentKey(cl.Name, cp.ID), live, lease)}, nil
	})
	if errors.Is(err, store.ErrLeaseLost) {
		b.live.forget(lease)
	}
	return agent, err
}

// DisconnectAgent marks the instance disconnected and deletes its liveness
// key, each only if it still names this session: a newer session, through
// this server or another, owns them otherwise.
func (b *StateBackend) DisconnectAgent(ctx context.Context, a Agent) {
	sc := scopeOf(a)
	err := b.update(ctx, func() ([]store.Op, error) {
		o, inst, err := b.state.Instance(sc, a.Cluster, a.InstanceID)
		if err != nil {
			return nil, err
		}
		var ops []store.Op
		if inst != nil && inst.AgentSession == a.Session {
			cp := *inst
			now := b.now().UTC()
			cp.AgentConnected = false
			cp.AgentDisconnectedAt = &now
			cp.AgentSession = ""
			cp.Version++
			ops = append(ops, store.Put(o.Key, &cp, o.Rev))
		}
		if lo, found := b.state.Store().Get(sc.AgentKey(a.Cluster, a.InstanceID)); found {
			if l, err := state.Decode[state.AgentLiveness](b.state, lo); err == nil && l.Session == a.Session {
				ops = append(ops, store.Delete(lo.Key, lo.Rev))
			}
		}
		return ops, nil
	})
	if err != nil {
		b.log.Warn("could not mark agent disconnected", "instance", a.InstanceARN, "err", err)
	}
}

func (b *StateBackend) Changed(a Agent) <-chan struct{} {
	return b.state.TasksByInstance.Changed(state.InstanceGroup(scopeOf(a), a.Cluster, a.InstanceID))
}

// AssignedTasks translates, for one agent, every task on its instance that
// it has not yet reported STOPPED.
func (b *StateBackend) AssignedTasks(a Agent, need func(arn, desired string) bool) ([]AssignedTask, error) {
	sc := scopeOf(a)
	var out []AssignedTask
	for _, t := range b.state.TasksOn(sc, a.Cluster, a.InstanceID) {
		if !need(t.ARN, t.DesiredStatus) {
			out = append(out, AssignedTask{ARN: t.ARN, DesiredStatus: t.DesiredStatus, Version: t.Version})
			continue
		}
		task, err := b.agentTask(sc, t)
		if err != nil {
			b.log.Error("cannot translate task for its agent", "task", t.ARN, "err", err)
			continue
		}
		out = append(out, AssignedTask{ARN: t.ARN, DesiredStatus: t.DesiredStatus, Version: t.Version, Task: task})
	}
	return out, nil
}

// agentTask is a task in the shape its agent receives.
func (b *StateBackend) agentTask(sc state.Scope, t *state.Task) (*acsmsg.Task, error) {
	_, td, err := b.state.TaskDef(sc, t.TaskDefinitionARN)
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, fmt.Errorf("task definition %s is gone", t.TaskDefinitionARN)
	}
	arns, gpus := map[string]string{}, map[string][]string{}
	for _, c := range t.Containers {
		arns[c.Name] = c.ARN
		if len(c.GPUIDs) > 0 {
			gpus[c.Name] = c.GPUIDs
		}
	}
	var eni *NetworkInterface
	if e := t.ENI; e != nil {
		r, err := netip.ParsePrefix(e.SubnetCIDR)
		if err != nil {
			return nil, fmt.Errorf("%w: task %s: subnet range %q", state.ErrCorrupt, t.ARN, e.SubnetCIDR)
		}
		eni = &NetworkInterface{AttachmentARN: sc.AttachmentARN(e.AttachmentID), ID: e.ID, MAC: e.MAC, IPv4: e.PrivateIPv4,
			Gateway: state.Gateway(r), PrivateDNSName: e.PrivateDNSName}
	}
	return Translate(TaskInput{
		ENI:           eni,
		TaskARN:       t.ARN,
		ClusterARN:    t.ClusterARN,
		Definition:    &td.Definition,
		Overrides:     t.Overrides,
		DesiredStatus: t.DesiredStatus,
		LaunchType:    t.LaunchType,
		ServiceName:   t.ServiceName,
		Group:         t.Group,
		ContainerARNs: arns,
		GPUs:          gpus,
	})
}

// ReportHealth records container health from TCS and derives the task's:
// UNHEALTHY when an essential container is, HEALTHY when every essential
// container with a health check is, UNKNOWN otherwise (as ECS does). A
// report for a task that is not on the agent's instance changes nothing
// (the session drops those before; this holds whoever calls).
func (b *StateBackend) ReportHealth(ctx context.Context, a Agent, reports []tcs.TaskHealth) error {
	for _, r := range reports {
		_, err := b.state.ChangeTask(ctx, scopeOf(a), a.Cluster, ecs.Val(r.TaskArn), func(t *state.Task, _ *state.InstanceChange) error {
			if t.InstanceID != a.InstanceID {
				return errNotOnInstance
			}
			changed := false
			for _, ch := range r.Containers {
				for i := range t.Containers {
					c := &t.Containers[i]
					if c.Name == ecs.Val(ch.ContainerName) && c.HealthStatus != string(ch.HealthStatus) && ch.HealthStatus != "" {
						c.HealthStatus, changed = string(ch.HealthStatus), true
					}
				}
			}
			if h := state.TaskHealth(t); h != t.HealthStatus {
				t.HealthStatus, changed = h, true
			}
			if !changed {
				return state.ErrUnchanged
			}
			return nil
		})
		if errors.Is(err, errNotOnInstance) || errors.Is(err, state.ErrTaskNotFound) {
			continue // one stray report does not cost the others theirs
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const errNotOnInstance = sessionError("the task is not on the agent's instance")

// scopeOf is the account and region an agent's signature named.
func scopeOf(a Agent) state.Scope { return state.Scope{Account: a.Account, Region: a.Region} }

// update runs a planned write with retries.
func (b *StateBackend) update(ctx context.Context, plan func() ([]store.Op, error)) error {
	_, err := b.state.Store().Update(ctx, plan)
	return err
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
