package acs

import (
	"context"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/tcs"
)

// Agent identifies a connected agent: the container instance it registered
// as, in the account and region its signature names.
type Agent struct {
	Account, Region string
	Cluster         string // the cluster's name
	ClusterARN      string
	InstanceARN     string
	InstanceID      string
	Session         string // one ACS connection; a late disconnect of an older one changes nothing
	// Lost is closed when nothing vouches for the session's liveness any
	// more (its server's lease was lost): the session ends, so that its
	// agent connects again and is marked live anew. Nil: never.
	Lost <-chan struct{}
}

// AgentInfo is what an agent says of itself when it connects (the query
// string of the upgrade).
type AgentInfo struct {
	AgentVersion, AgentHash, DockerVersion string
}

// AssignedTask is a task the control plane wants on an instance, in the
// shape the agent receives. Version changes whenever the task changes.
type AssignedTask struct {
	ARN           string
	DesiredStatus string // RUNNING or STOPPED
	Version       int64
	Task          *acsmsg.Task
}

// ReportedTask is what an agent's report on a task is checked against.
type ReportedTask struct {
	ARN        string   // as stored; the report is keyed by it
	Containers []string // the task's container names
}

// Backend is what the agent endpoints need from the control plane.
type Backend interface {
	// ConnectAgent checks that the instance exists and is registered in the
	// cluster, and marks its agent connected. An error refuses the session.
	ConnectAgent(ctx context.Context, account, region, cluster, instanceARN string, info AgentInfo) (Agent, error)
	// LookupAgent identifies a registered instance without changing it (the
	// TCS session, which does not decide whether an agent is connected).
	LookupAgent(ctx context.Context, account, region, cluster, instanceARN string) (Agent, error)
	// DisconnectAgent marks the instance's agent disconnected.
	DisconnectAgent(ctx context.Context, a Agent)
	// AssignedTasks lists the tasks an agent must know about: every task on
	// its instance whose agent has not yet reported it STOPPED. Only the
	// tasks for which need returns true are translated (Task is nil for the
	// others): a session re-lists often, and sends little.
	AssignedTasks(a Agent, need func(arn, desiredStatus string) bool) ([]AssignedTask, error)
	// Changed is closed at the next change to the tasks of the agent's
	// instance: then AssignedTasks may answer differently.
	Changed(a Agent) <-chan struct{}
	// LivenessChanged is closed at the next change to the agent's liveness
	// key, written by whichever server holds the instance's newest session.
	LivenessChanged(a Agent) <-chan struct{}
	// Replaced reports whether a newer session of the agent's instance
	// took over (the liveness key names it): this one must end.
	Replaced(a Agent) bool
	// InstanceTask resolves a task an agent reports on, and says whether
	// it is a task of the agent's own instance, account and cluster:
	// reports on any other are dropped.
	InstanceTask(a Agent, ref string) (ReportedTask, bool)
	// ReportHealth records the container health an agent reports over TCS.
	ReportHealth(ctx context.Context, a Agent, tasks []tcs.TaskHealth) error
}
