package server

import (
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/scheduler/query"
)

// queryInstance is a container instance as the query language sees it.
type queryInstance struct {
	s  *Server
	sc state.Scope
	r  *state.Instance
}

var _ query.Instance = queryInstance{}

func (q queryInstance) Attribute(name string) (string, bool) {
	for _, a := range q.r.Attributes {
		if ecs.Val(a.Name) == name {
			return ecs.Val(a.Value), true
		}
	}
	return "", false
}

func (q queryInstance) AgentConnected() bool    { return q.r.AgentConnected }
func (q queryInstance) AgentVersion() string    { return ecs.Val(q.r.VersionInfo.AgentVersion) }
func (q queryInstance) EC2InstanceID() string   { return q.r.EC2InstanceID }
func (q queryInstance) RegisteredAt() time.Time { return q.r.RegisteredAt }
func (q queryInstance) RunningTasksCount() int  { return q.s.instanceTaskCount(q.sc, q.r, "RUNNING") }

func (q queryInstance) TaskGroups() []string {
	var groups []string
	for _, t := range q.s.state.TasksOn(q.sc, q.r.Cluster, q.r.ID) {
		groups = append(groups, t.Group)
	}
	return groups
}
