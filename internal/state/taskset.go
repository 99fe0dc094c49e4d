package state

import (
	"math"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// TaskSetsPrimaryFirst lists the task sets, the primary first: it serves
// traffic, so its tasks come before the others' when room is short.
func (r *Service) TaskSetsPrimaryFirst() []*TaskSet {
	var out []*TaskSet
	if p := r.PrimaryTaskSet(); p != nil {
		out = append(out, p)
	}
	for i := range r.TaskSets {
		if r.TaskSets[i].Status != TaskSetPrimary {
			out = append(out, &r.TaskSets[i])
		}
	}
	return out
}

// TaskSet is one task set as stored.
type TaskSet struct {
	ID                string    `json:"id"` // ecs-svc/<19 digits>; its tasks' startedBy
	ARN               string    `json:"arn"`
	Status            string    `json:"status"` // PRIMARY, ACTIVE or DRAINING
	ExternalID        string    `json:"externalId,omitempty"`
	LaunchSpec                  // its own; the placement rules are the service's
	ScalePercent      float64   `json:"scalePercent"`
	StabilityStatus   string    `json:"stabilityStatus"` // STEADY_STATE or STABILIZING
	StabilityStatusAt time.Time `json:"stabilityStatusAt"`
	Tags              []ecs.Tag `json:"tags,omitempty"`
	ClientToken       string    `json:"clientToken,omitempty"`
	CreatedAt         time.Time `json:"createdAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

const (
	TaskSetPrimary  = "PRIMARY"
	TaskSetActive   = "ACTIVE"
	TaskSetDraining = "DRAINING"

	// MaxTaskSets per service is Berth's limit: it keeps a service record
	// small. A blue/green or canary deployment needs two or three.
	MaxTaskSets = 5
)

// ComputedDesired is the task set's share of the service's desired count,
// rounded up as ECS rounds it; a DRAINING task set, or one of a service
// being deleted, wants none.
func (ts *TaskSet) ComputedDesired(r *Service) int {
	if ts.Status == TaskSetDraining || r.Status != StatusActive {
		return 0
	}
	// The small epsilon keeps 3 × 33.333…% from rounding up to 2.
	return int(math.Ceil(float64(r.DesiredCount)*ts.ScalePercent/100 - 1e-9))
}

// AsDeployment is the task set as the service scheduler launches tasks of
// it: with its own task definition and launch settings and the service's
// placement rules.
func (ts *TaskSet) AsDeployment(r *Service) *Deployment {
	d := &Deployment{ID: ts.ID, Status: ts.Status, LaunchSpec: ts.LaunchSpec}
	d.PlacementConstraints, d.PlacementStrategy = r.PlacementConstraints, r.PlacementStrategy
	return d
}

func (r *Service) FindTaskSet(ref string) *TaskSet {
	for i := range r.TaskSets {
		if ts := &r.TaskSets[i]; ts.ID == ref || ts.ARN == ref {
			return ts
		}
	}
	return nil
}

func (r *Service) PrimaryTaskSet() *TaskSet {
	for i := range r.TaskSets {
		if r.TaskSets[i].Status == TaskSetPrimary {
			return &r.TaskSets[i]
		}
	}
	return nil
}

// TakeSettingsOf makes the primary task set's settings the service's, as
// ECS shows them: DescribeServices returns the primary's fields.
func (r *Service) TakeSettingsOf(ts *TaskSet) {
	own := r.LaunchSpec // placement rules and Service Connect stay the service's
	r.LaunchSpec = ts.LaunchSpec
	r.PlacementConstraints, r.PlacementStrategy, r.ServiceConnectConfiguration = own.PlacementConstraints, own.PlacementStrategy, own.ServiceConnectConfiguration
}
