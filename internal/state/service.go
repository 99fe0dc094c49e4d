package state

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
	"github.com/google/uuid"
)

// NewDeployment starts a deployment of the service's current settings.
func (r *Service) NewDeployment(sc Scope, now time.Time) Deployment {
	r.RevisionCounter++
	id := NewDeploymentID()
	return Deployment{
		ID: id, Status: DeploymentPrimary, LaunchSpec: r.LaunchSpec, DesiredCount: r.DesiredCount,
		RolloutState: RolloutInProgress, RolloutStateReason: "ECS deployment " + id + " in progress.",
		RevisionARN: sc.ARN("service-revision/" + r.Cluster + "/" + r.Name + "/" + Digits19(r.RevisionCounter)),
		CreatedAt:   now, UpdatedAt: now,
	}
}

// Deploy makes d the PRIMARY deployment; the one before becomes ACTIVE and
// is drained by the service scheduler.
func (r *Service) Deploy(d Deployment, now time.Time) {
	for _, old := range r.Deployments {
		d.SourceRevisionARNs = append(d.SourceRevisionARNs, old.RevisionARN)
	}
	for i := range r.Deployments {
		if r.Deployments[i].Status == DeploymentPrimary {
			r.Deployments[i].Status, r.Deployments[i].UpdatedAt = DeploymentActive, now
		}
	}
	r.Deployments = append([]Deployment{d}, r.Deployments...)
	r.SteadyAt, r.LaunchFailures, r.NextLaunchAt = nil, 0, nil
}

func Digits19(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 19 {
		s = "0" + s
	}
	return s
}

// Service is a service as stored.
type Service struct {
	Schema                        int                         `json:"schema"`
	ARN                           string                      `json:"arn"`
	Name                          string                      `json:"name"`
	Cluster                       string                      `json:"cluster"`
	ClusterARN                    string                      `json:"clusterArn"`
	Status                        string                      `json:"status"` // ACTIVE, DRAINING or INACTIVE
	DesiredCount                  int                         `json:"desiredCount"`
	SchedulingStrategy            string                      `json:"schedulingStrategy"`
	LaunchSpec                                                // the settings new deployments take (launchspec.go)
	DeploymentConfiguration       ecs.DeploymentConfiguration `json:"deploymentConfiguration"`
	DeploymentController          string                      `json:"deploymentController"`
	HealthCheckGracePeriodSeconds *int32                      `json:"healthCheckGracePeriodSeconds,omitempty"`
	Tags                          []ecs.Tag                   `json:"tags,omitempty"`
	EnableECSManagedTags          bool                        `json:"enableECSManagedTags"`
	PropagateTags                 string                      `json:"propagateTags,omitempty"`
	EnableExecuteCommand          bool                        `json:"enableExecuteCommand"`
	AvailabilityZoneRebalancing   string                      `json:"availabilityZoneRebalancing,omitempty"`
	RoleARN                       string                      `json:"roleArn,omitempty"`
	CreatedBy                     string                      `json:"createdBy,omitempty"`
	CreatedAt                     time.Time                   `json:"createdAt"`
	ClientToken                   string                      `json:"clientToken,omitempty"`

	// Deployments in progress: the PRIMARY first, then ACTIVE ones that
	// still have tasks. Finished ones move to History.
	Deployments []Deployment   `json:"deployments"`
	TaskSets    []TaskSet      `json:"taskSets,omitempty"` // EXTERNAL deployment controller only (tasksets.go)
	History     []Deployment   `json:"history,omitempty"`  // newest first, bounded
	Events      []ServiceEvent `json:"events,omitempty"`   // newest first, bounded

	// The service scheduler's own bookkeeping.
	SteadyAt          *time.Time `json:"steadyAt,omitempty"`          // when it last reported a steady state
	LaunchFailures    int        `json:"launchFailures,omitempty"`    // tasks failed in a row: drives the back-off
	NextLaunchAt      *time.Time `json:"nextLaunchAt,omitempty"`      // no launches before this while backing off
	DeletedAt         *time.Time `json:"deletedAt,omitempty"`         // when DeleteService was called
	InactiveAt        *time.Time `json:"inactiveAt,omitempty"`        // when it became INACTIVE; internal/controller/gc counts its retention from it
	DaemonDesired     int        `json:"daemonDesired,omitempty"`     // DAEMON: the instances it should run on, as last counted
	RevisionCounter   int        `json:"revisionCounter,omitempty"`   // service revisions handed out
	DeploymentCounter int        `json:"deploymentCounter,omitempty"` // unused ids are never reused
}

// ServiceSchema 2 embeds one LaunchSpec in the service, its deployments and
// its task sets; schema 1 deployments had no Service Connect configuration
// (Upgrade).
const ServiceSchema = 2

// Deployment is one deployment of a service: a task definition and
// the settings it runs with, and how far its rollout has come.
type Deployment struct {
	ID                 string     `json:"id"`     // ecs-svc/<19 digits>
	Status             string     `json:"status"` // PRIMARY, ACTIVE or INACTIVE
	LaunchSpec                    // what its tasks run with
	DesiredCount       int        `json:"desiredCount"`
	FailedTasks        int        `json:"failedTasks"`
	RolloutState       string     `json:"rolloutState"` // IN_PROGRESS, COMPLETED or FAILED
	RolloutStateReason string     `json:"rolloutStateReason"`
	Rollback           bool       `json:"rollback,omitempty"`   // started to roll another back
	RollbackOf         string     `json:"rollbackOf,omitempty"` // the deployment it rolls back
	Stopped            bool       `json:"stopped,omitempty"`    // StopServiceDeployment ended it
	StoppedAt          *time.Time `json:"stoppedAt,omitempty"`
	SourceRevisionARNs []string   `json:"sourceRevisionArns,omitempty"` // what ran when it began
	RevisionARN        string     `json:"revisionArn"`
	CreatedAt          time.Time  `json:"createdAt"`
	UpdatedAt          time.Time  `json:"updatedAt"`
	FinishedAt         *time.Time `json:"finishedAt,omitempty"`
}

// ServiceEvent is one entry of a service's events[].
type ServiceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// ECS shows a service's 100 most recent events; Berth keeps as many.
const (
	MaxServiceEvents  = 100
	MaxServiceHistory = 20
)

const (
	SchedulingReplica = string(ecs.SchedulingStrategyReplica)
	SchedulingDaemon  = string(ecs.SchedulingStrategyDaemon)

	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	DeploymentInactive = "INACTIVE"

	RolloutInProgress = string(ecs.DeploymentRolloutStateInProgress)
	RolloutCompleted  = string(ecs.DeploymentRolloutStateCompleted)
	RolloutFailed     = string(ecs.DeploymentRolloutStateFailed)
)

// NewDeploymentID is an id in ECS's form: ecs-svc/ and 19 digits.
func NewDeploymentID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e18))
	s := n.String()
	return "ecs-svc/" + strings.Repeat("0", 19-len(s)) + s
}

// Primary is the deployment new tasks belong to.
func (r *Service) Primary() *Deployment {
	for i := range r.Deployments {
		if r.Deployments[i].Status == DeploymentPrimary {
			return &r.Deployments[i]
		}
	}
	return nil
}

func (r *Service) DeploymentByID(id string) *Deployment {
	for i := range r.Deployments {
		if r.Deployments[i].ID == id {
			return &r.Deployments[i]
		}
	}
	return nil
}

// AddEvent puts an event on top of the service's events, keeping ECS's 100.
func (r *Service) AddEvent(now time.Time, format string, args ...any) {
	r.pushEvent(now, fmt.Sprintf(format, args...))
}

// pushEvent puts a message on top of the events. Each event is stamped at
// least a millisecond (the wire's precision) after the one before it, so
// two written in one pass ("deployment completed", then "has reached a
// steady state") are ordered by their createdAt, as ECS's are: tools that
// show the events newer than the last one they printed miss neither.
func (r *Service) pushEvent(now time.Time, msg string) {
	at := now.Truncate(time.Millisecond)
	if len(r.Events) > 0 && !at.After(r.Events[0].CreatedAt) {
		at = r.Events[0].CreatedAt.Truncate(time.Millisecond).Add(time.Millisecond)
	}
	r.Events = append([]ServiceEvent{{ID: NewEventID(), CreatedAt: at, Message: msg}}, r.Events...)
	if len(r.Events) > MaxServiceEvents {
		r.Events = r.Events[:MaxServiceEvents]
	}
}

func NewEventID() string { return uuid.NewString() }

// Retire moves a deployment out of deployments[] into the history.
func (r *Service) Retire(id string, now time.Time) {
	for i := range r.Deployments {
		if r.Deployments[i].ID != id {
			continue
		}
		d := r.Deployments[i]
		d.Status, d.UpdatedAt = DeploymentInactive, now
		if d.FinishedAt == nil {
			d.FinishedAt = &now
		}
		r.Deployments = append(r.Deployments[:i:i], r.Deployments[i+1:]...)
		r.History = append([]Deployment{d}, r.History...)
		if len(r.History) > MaxServiceHistory {
			r.History = r.History[:MaxServiceHistory]
		}
		return
	}
}

// ServiceGroup names a service in the index of tasks by service.
func ServiceGroup(sc Scope, cluster, name string) string {
	return sc.Account + "/" + sc.Region + "/" + cluster + "/" + name
}

// ServiceTask is a task of a service with the object it was read from.
type ServiceTask struct {
	Obj *store.Object
	Rec *Task
}

// Desired is the number of tasks the service should run now.
func (r *Service) Desired() int {
	if r.SchedulingStrategy == SchedulingDaemon {
		if r.Status != StatusActive {
			return 0
		}
		return r.DaemonDesired
	}
	return r.DesiredCount
}

// External: the service's deployments are task sets an external
// DeploymentByID controller manages.
func (r *Service) External() bool {
	return r.DeploymentController == string(ecs.DeploymentControllerTypeExternal)
}

func (r *Service) CircuitBreaker() bool {
	cb := r.DeploymentConfiguration.DeploymentCircuitBreaker
	return cb != nil && ecs.Val(cb.Enable)
}

// RollBack deploys again the last deployment that completed, in place of
// failed. It reports whether there was one.
func (r *Service) RollBack(sc Scope, failed *Deployment, reasonFormat string, now time.Time) bool {
	var last *Deployment
	for i := range r.Deployments {
		if d := &r.Deployments[i]; d.ID != failed.ID && d.RolloutState == RolloutCompleted {
			last = d
			break
		}
	}
	if last == nil {
		for i := range r.History {
			if d := &r.History[i]; d.RolloutState == RolloutCompleted {
				last = d
				break
			}
		}
	}
	if last == nil {
		return false // nothing ever completed: nothing to go back to
	}
	back := *last
	back.ID, back.Status, back.DesiredCount, back.FailedTasks = NewDeploymentID(), DeploymentPrimary, r.DesiredCount, 0
	back.RolloutState, back.Rollback, back.RollbackOf = RolloutInProgress, true, failed.ID
	back.RolloutStateReason = fmt.Sprintf(reasonFormat, last.ID)
	back.CreatedAt, back.UpdatedAt, back.FinishedAt, back.Stopped, back.StoppedAt, back.SourceRevisionARNs = now, now, nil, false, nil, nil
	r.RevisionCounter++
	back.RevisionARN = sc.ARN("service-revision/" + r.Cluster + "/" + r.Name + "/" + Digits19(r.RevisionCounter))
	r.LaunchSpec = last.LaunchSpec // the service's settings are those of the deployment it goes back to
	r.Deploy(back, now)
	r.AddEvent(now, "(service %s) (deployment %s) rolling back to deployment %s.", r.Name, failed.ID, last.ID)
	return true
}

// AllDeployments is a service's deployments, current and past, newest first.
func (r *Service) AllDeployments() []*Deployment {
	var out []*Deployment
	for i := range r.Deployments {
		out = append(out, &r.Deployments[i])
	}
	for i := range r.History {
		out = append(out, &r.History[i])
	}
	slices.SortStableFunc(out, func(a, b *Deployment) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// RollbackOf finds the deployment that rolls d back, if any.
func (r *Service) RollbackOf(d *Deployment) *Deployment {
	for _, x := range r.AllDeployments() {
		if x.RollbackOf == d.ID {
			return x
		}
	}
	return nil
}

// DeploymentStatus is a deployment's status in ECS's service deployment terms.
func (r *Service) DeploymentStatus(d *Deployment) ecs.ServiceDeploymentStatus {
	if back := r.RollbackOf(d); back != nil {
		switch back.RolloutState {
		case RolloutCompleted:
			return ecs.ServiceDeploymentStatusRollbackSuccessful
		case RolloutFailed:
			return ecs.ServiceDeploymentStatusRollbackFailed
		}
		if back.Status == DeploymentPrimary {
			return ecs.ServiceDeploymentStatusRollbackInProgress
		}
		return ecs.ServiceDeploymentStatusRollbackFailed // superseded before it finished
	}
	switch {
	case d.Stopped || d.RolloutState == RolloutFailed:
		return ecs.ServiceDeploymentStatusStopped
	case d.RolloutState == RolloutCompleted:
		return ecs.ServiceDeploymentStatusSuccessful
	case d.Status == DeploymentPrimary:
		return ecs.ServiceDeploymentStatusInProgress
	}
	return ecs.ServiceDeploymentStatusStopped // a newer deployment took over before it completed
}

// FailureThreshold is ECS's circuit breaker threshold: half the desired
// count, at least 3 and at most 200.
func FailureThreshold(desired int) int {
	return min(max(3, (desired+1)/2), 200)
}
