package scheduler

import (
	"slices"
	"time"

	"github.com/berth-project/berth/internal/scheduler/query"
)

// Candidate is a container instance as placement sees it. Place changes its
// free resources and task counts as it puts tasks on it, so each pass needs
// its own candidates; a shallow copy of a candidate will do, since Place
// never writes into the maps and slices it is given (it copies Groups
// before its first change, and appends to clipped slices).
type Candidate struct {
	ID               string
	ARN              string
	Status           string // ACTIVE or DRAINING
	AgentConnected   bool
	AgentVersion     string
	EC2InstanceID    string
	RegisteredAt     time.Time
	CapacityProvider string
	Attributes       map[string]string

	// What remains of the instance's resources.
	CPU, Memory int64
	UsedPorts   []string // TCP host ports in use, as ECS lists them in remainingResources
	UsedUDP     []string
	FreeGPUs    []string // ids of the GPUs no task holds
	// DynamicPortsFree is what is left of the ephemeral range dynamic host
	// ports come from (ECS does not list it in remainingResources).
	DynamicPortsFree int

	Groups     map[string]int // tasks not yet STOPPED, by task group
	Running    int            // tasks whose lastStatus is RUNNING
	ownsGroups bool           // Groups is this candidate's own copy

	// Placed counts the tasks this pass put here; the caller writes the
	// instance back when it is non-zero.
	Placed int
}

func (c *Candidate) Attribute(name string) (string, bool) {
	v, ok := c.Attributes[name]
	return v, ok
}
func (c *Candidate) RunningTasksCount() int { return c.Running }

// TaskGroups lists the groups of the tasks on the instance.
func (c *Candidate) TaskGroups() []string {
	out := make([]string, 0, len(c.Groups))
	for g, n := range c.Groups {
		if n > 0 {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// candidateQuery completes query.Instance: those methods' names are taken
// by the candidate's fields.
type candidateQuery struct{ *Candidate }

func (q candidateQuery) AgentConnected() bool    { return q.Candidate.AgentConnected }
func (q candidateQuery) AgentVersion() string    { return q.Candidate.AgentVersion }
func (q candidateQuery) EC2InstanceID() string   { return q.Candidate.EC2InstanceID }
func (q candidateQuery) RegisteredAt() time.Time { return q.Candidate.RegisteredAt }

var _ query.Instance = candidateQuery{}

// Query is the candidate as the cluster query language sees it.
func (c *Candidate) Query() query.Instance { return candidateQuery{c} }

// Demand is one task's needs and the rules for where it may go.
type Demand struct {
	CPU, Memory int64
	Ports       []string // static TCP host ports
	PortsUDP    []string
	GPUs        int
	// DynamicPorts is how many dynamic host ports the task takes.
	DynamicPorts int

	// Attributes the instance must have (the task definition's
	// requiresAttributes): by name, and by value when Value is set.
	Attributes []Attribute
	// CapacityProvider, when set, limits the task to the instances of that
	// capacity provider.
	CapacityProvider string
	// Group is the task group; spread and distinctInstance count its tasks.
	Group       string
	Constraints []Constraint
	Strategies  []Strategy
}

// Attribute is a required container instance attribute.
type Attribute struct {
	Name  string
	Value string // empty: any value
}

// ConstraintType names a placement constraint.
type ConstraintType string

const (
	DistinctInstance ConstraintType = "distinctInstance"
	MemberOf         ConstraintType = "memberOf"
)

// Constraint is a placement constraint: binding, unlike a strategy.
type Constraint struct {
	Type ConstraintType
	Expr query.Expr // memberOf's parsed expression
}
