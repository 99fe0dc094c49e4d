// Package state owns what Berth stores: the records (clusters, container
// instances, tasks, services with their deployments and task sets, task
// definitions, capacity providers, account settings), the key layout under
// one root, ECS's ARN and reference forms, typed lookups on the store's
// view, and the record rules that both the ECS API and the controllers
// apply (deploying and retiring a deployment, rolling back, a task set's
// computed desired count, task transitions, resource arithmetic).
//
// It knows nothing of HTTP or of ECS's exceptions: a lookup answers a nil
// record for "none", and a record that cannot be read is ErrCorrupt. The
// API maps these to ECS's errors in one place.
package state

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/berth-project/berth/internal/store"
)

// ErrCorrupt: a stored record could not be decoded. It is logged where it
// is found; callers answer it as a server-side failure.
var ErrCorrupt = errors.New("corrupt record in store")

// State is the typed side of the store: lookups by ECS reference, and the
// indexes of tasks by instance and by service that the API, the agent
// endpoints and the controllers read.
type State struct {
	store *store.Store
	log   *slog.Logger

	// TasksByInstance keeps, for every instance, the tasks on it that its
	// agent has not yet reported STOPPED (group: InstanceGroup).
	TasksByInstance *store.Index
	// TasksByService keeps, for every service, its tasks the service
	// scheduler still has to look at (group: ServiceGroup).
	TasksByService *store.Index
	// TasksBySubnet keeps, for every subnet, the tasks holding one of its
	// addresses (group: SubnetGroup); TasksByAttachment finds a task by
	// its interface's attachment.
	TasksBySubnet, TasksByAttachment *store.Index
}

// New returns the state on st, with its indexes registered.
func New(st *store.Store, log *slog.Logger) *State {
	if log == nil {
		log = slog.Default()
	}
	return &State{store: st, log: log, TasksByInstance: indexTasksByInstance(st), TasksByService: indexTasksByService(st),
		TasksBySubnet: indexTasksBySubnet(st), TasksByAttachment: indexTasksByAttachment(st)}
}

// Store is the store the state reads and writes.
func (s *State) Store() *store.Store { return s.store }

// Decode reads a record from the view, shared and read-only.
func Decode[T any](s *State, o *store.Object) (*T, error) {
	v, err := store.Decode[T](o)
	if err != nil {
		s.log.Error("corrupt record in store", "key", o.Key, "err", err)
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, o.Key)
	}
	return v, nil
}

// DecodeCopy reads a private copy of a record, to change and write back.
func DecodeCopy[T any](s *State, o *store.Object) (*T, error) {
	v, err := store.DecodeCopy[T](o)
	if err != nil {
		s.log.Error("corrupt record in store", "key", o.Key, "err", err)
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, o.Key)
	}
	return v, nil
}
