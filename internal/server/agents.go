package server

import (
	"context"
	"fmt"

	"github.com/berth-project/berth/internal/state"

	"github.com/google/uuid"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/api/tcs"
	"github.com/berth-project/berth/internal/acs"
	"github.com/berth-project/berth/internal/store"
)

// The server is the agent endpoints' acs.Backend: it says which instance an
// agent is, which tasks it should run, and records what it reports over TCS.
var _ acs.Backend = (*Server)(nil)

// agentInstance finds the instance an agent names when it connects: the
// cluster as a name or ARN, the instance by ARN, ACTIVE or DRAINING.
func (s *Server) agentInstance(sc state.Scope, clusterRef, instanceARN string) (*store.Object, *state.Instance, *state.Cluster, error) {
	_, cl, err := s.activeCluster(sc, &clusterRef)
	if err != nil {
		return nil, nil, nil, err
	}
	o, inst, err := s.state.Instance(sc, cl.Name, instanceARN)
	if err != nil {
		return nil, nil, nil, err
	}
	if inst == nil || inst.Status == state.StatusInactive {
		return nil, nil, nil, fmt.Errorf("container instance %s is not registered in cluster %s", instanceARN, cl.Name)
	}
	return o, inst, cl, nil
}

func agentOf(sc state.Scope, cl *state.Cluster, inst *state.Instance) acs.Agent {
	return acs.Agent{Account: sc.Account, Region: sc.Region, Cluster: cl.Name, ClusterARN: cl.ARN, InstanceARN: inst.ARN, InstanceID: inst.ID}
}

func (s *Server) LookupAgent(ctx context.Context, account, region, cluster, instanceARN string) (acs.Agent, error) {
	sc := state.Scope{Account: account, Region: region}
	_, inst, cl, err := s.agentInstance(sc, cluster, instanceARN)
	if err != nil {
		return acs.Agent{}, err
	}
	return agentOf(sc, cl, inst), nil
}

func (s *Server) ConnectAgent(ctx context.Context, account, region, cluster, instanceARN string, info acs.AgentInfo) (acs.Agent, error) {
	sc := state.Scope{Account: account, Region: region}
	var agent acs.Agent
	err := s.update(ctx, func() ([]store.Op, error) {
		o, inst, cl, err := s.agentInstance(sc, cluster, instanceARN)
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
		return []store.Op{store.Put(o.Key, &cp, o.Rev)}, nil
	})
	return agent, err
}

func (s *Server) DisconnectAgent(ctx context.Context, a acs.Agent) {
	sc := state.Scope{Account: a.Account, Region: a.Region}
	err := s.update(ctx, func() ([]store.Op, error) {
		o, inst, err := s.state.Instance(sc, a.Cluster, a.InstanceID)
		if err != nil || inst == nil || inst.AgentSession != a.Session {
			return nil, err // gone, or a newer session owns the instance now
		}
		cp := *inst
		now := s.now().UTC()
		cp.AgentConnected = false
		cp.AgentDisconnectedAt = &now
		cp.AgentSession = ""
		cp.Version++
		return []store.Op{store.Put(o.Key, &cp, o.Rev)}, nil
	})
	if err != nil {
		s.log.Warn("could not mark agent disconnected", "instance", a.InstanceARN, "err", err)
	}
}

func (s *Server) Changed(a acs.Agent) <-chan struct{} {
	return s.state.TasksByInstance.Changed(state.InstanceGroup(state.Scope{Account: a.Account, Region: a.Region}, a.Cluster, a.InstanceID))
}

// AssignedTasks translates, for one agent, every task on its instance that
// it has not yet reported STOPPED.
func (s *Server) AssignedTasks(a acs.Agent, need func(arn, desired string) bool) ([]acs.AssignedTask, error) {
	sc := state.Scope{Account: a.Account, Region: a.Region}
	var out []acs.AssignedTask
	for _, t := range s.state.TasksOn(sc, a.Cluster, a.InstanceID) {
		if !need(t.ARN, t.DesiredStatus) {
			out = append(out, acs.AssignedTask{ARN: t.ARN, DesiredStatus: t.DesiredStatus, Version: t.Version})
			continue
		}
		task, err := s.agentTask(sc, t)
		if err != nil {
			s.log.Error("cannot translate task for its agent", "task", t.ARN, "err", err)
			continue
		}
		out = append(out, acs.AssignedTask{ARN: t.ARN, DesiredStatus: t.DesiredStatus, Version: t.Version, Task: task})
	}
	return out, nil
}

// agentTask is a task in the shape its agent receives.
func (s *Server) agentTask(sc state.Scope, t *state.Task) (*acsmsg.Task, error) {
	_, td, err := s.state.TaskDef(sc, t.TaskDefinitionARN)
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
	return acs.Translate(acs.TaskInput{
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
// container with a health check is, UNKNOWN otherwise (as ECS does).
func (s *Server) ReportHealth(ctx context.Context, a acs.Agent, reports []tcs.TaskHealth) error {
	for _, r := range reports {
		ref := a.Cluster
		_, err := s.changeTask(withScope(ctx, a), &ref, ecs.Val(r.TaskArn), func(t *state.Task, _ *state.InstanceChange) error {
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
				return errUnchanged
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// withScope gives an agent's calls into the server the agent's account and
// region, as a signed API request would carry them.
func withScope(ctx context.Context, a acs.Agent) context.Context {
	return auth.WithCaller(ctx, auth.Caller{AccountID: a.Account, Region: a.Region, Service: "ecs"})
}
