package state

import (
	"context"
	"errors"

	"github.com/berth-project/berth/internal/store"
)

// Sentinels of the lookups and record changes. Their text is ECS's message
// for the case; the API gives it with ECS's exception.
var (
	// ErrClusterNotFound: no ACTIVE cluster by that reference.
	ErrClusterNotFound = errors.New("Cluster not found.")
	// ErrTaskNotFound: no task by that reference in the cluster.
	ErrTaskNotFound = errors.New("The referenced task was not found.")
	// ErrUnchanged, returned by a change function, aborts a change that
	// would write nothing new: nothing is written and no error is answered.
	ErrUnchanged = errors.New("unchanged")
)

// ActiveCluster finds an ACTIVE cluster by a cluster parameter (a name or
// ARN; empty for the default): ErrClusterNotFound for none.
func (s *State) ActiveCluster(sc Scope, ref string) (*store.Object, *Cluster, error) {
	o, c, err := s.Cluster(sc, ref)
	if err != nil {
		return nil, nil, err
	}
	if c == nil || c.Status != StatusActive {
		return nil, nil, ErrClusterNotFound
	}
	return o, c, nil
}

// ChangeTask applies change to a private copy of a task of an ACTIVE
// cluster and writes it back (with its instance, when resources are given
// back), retrying on conflict. A change returning ErrUnchanged writes
// nothing and answers the task as it is.
func (s *State) ChangeTask(ctx context.Context, sc Scope, clusterRef, ref string, change func(*Task, *InstanceChange) error) (*Task, error) {
	var result *Task
	_, err := s.store.Update(ctx, func() ([]store.Op, error) {
		_, cl, err := s.ActiveCluster(sc, clusterRef)
		if err != nil {
			return nil, err
		}
		o, t, err := s.Task(sc, cl.Name, ref)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, ErrTaskNotFound
		}
		changed, err := DecodeCopy[Task](s, o)
		if err != nil {
			return nil, err
		}
		var ic InstanceChange
		if err := change(changed, &ic); errors.Is(err, ErrUnchanged) {
			result = t
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		changed.Version++
		result = changed
		ops := []store.Op{store.Put(o.Key, changed, o.Rev)}
		if ic.Release != nil {
			io, inst, err := s.Instance(sc, cl.Name, changed.InstanceID)
			if err != nil {
				return nil, err
			}
			if inst != nil {
				cp := *inst
				cp.RemainingResources = Adjusted(inst.RemainingResources, *ic.Release, -1)
				cp.Version++
				ops = append(ops, store.Put(io.Key, &cp, io.Rev))
			}
		}
		return ops, nil
	})
	return result, err
}
