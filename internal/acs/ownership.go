package acs

import (
	"github.com/berth-project/berth/internal/state"
)

// What a session may speak for. An instance has one ACS session, the one
// its liveness key names: a newer one, through any server, replaces it.
// And an agent speaks only for the tasks of its own instance, in the
// account its signature names: what it reports of any other task is
// dropped, whatever cluster or ARN it claims.

// LivenessChanged is closed at the next change to the agent's liveness
// key, through this server or another.
func (b *StateBackend) LivenessChanged(a Agent) <-chan struct{} {
	return b.liveKeys.Changed(scopeOf(a).AgentKey(a.Cluster, a.InstanceID))
}

// Replaced reports whether the agent's liveness key names another session:
// a newer session for the instance connected, and this one must end. A
// missing key is not a replacement: its lease lapsing ends the session
// through Agent.Lost, and a disconnect deletes only its own session's key.
func (b *StateBackend) Replaced(a Agent) bool {
	o, found := b.state.Store().Get(scopeOf(a).AgentKey(a.Cluster, a.InstanceID))
	if !found {
		return false
	}
	l, err := state.Decode[state.AgentLiveness](b.state, o)
	return err == nil && l.Session != a.Session
}

// InstanceTask resolves a task an agent reports on: the task as stored
// when ref names a task of the agent's account, region and cluster placed
// on its instance, and false for anything else.
func (b *StateBackend) InstanceTask(a Agent, ref string) (ReportedTask, bool) {
	_, t, err := b.state.Task(scopeOf(a), a.Cluster, ref)
	if err != nil || t == nil || t.InstanceID != a.InstanceID {
		return ReportedTask{}, false
	}
	rt := ReportedTask{ARN: t.ARN}
	for _, c := range t.Containers {
		rt.Containers = append(rt.Containers, c.Name)
	}
	return rt, true
}
