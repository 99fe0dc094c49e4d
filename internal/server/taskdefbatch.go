package server

import (
	"context"
	"sync"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/store"
)

// Registrations of one family all change the family's record (its revision
// counter), so concurrent ones would conflict in etcd and retry in turn.
// Instead they queue per family and are committed together: one
// transaction hands out consecutive revisions to everything that queued
// while the previous transaction was in flight. Replicas sharing an etcd
// still meet as optimistic conflicts, which Server.update retries.

// maxRegistrationBatch keeps a batch's transaction well under etcd's
// default limit of 128 operations.
const maxRegistrationBatch = 64

// registration is one validated RegisterTaskDefinition waiting for its
// revision. result and err are set before done is closed.
type registration struct {
	def    *ecs.TaskDefinition
	tags   []ecs.Tag
	result *state.TaskDef
	err    error
	done   chan struct{}
}

// registrar holds the queue of each family with registrations in flight.
type registrar struct {
	mu     sync.Mutex
	queues map[string]*registrationQueue // by family key
}

type registrationQueue struct {
	waiting []*registration
	busy    bool // a drain goroutine is committing this family's batches
}

// submit queues reg and waits until it is committed or has failed.
func (r *registrar) submit(ctx context.Context, s *Server, sc state.Scope, reg *registration) {
	key := sc.Key(state.KindTaskDefFamily, *reg.def.Family)
	r.mu.Lock()
	if r.queues == nil {
		r.queues = map[string]*registrationQueue{}
	}
	q := r.queues[key]
	if q == nil {
		q = &registrationQueue{}
		r.queues[key] = q
	}
	q.waiting = append(q.waiting, reg)
	if !q.busy {
		q.busy = true
		// The batch outlives any one caller: a client that hangs up must not
		// fail the registrations of others queued behind it.
		go r.drain(context.WithoutCancel(ctx), s, sc, key, q)
	}
	r.mu.Unlock()
	<-reg.done
}

// drain commits the queue of one family batch by batch until it is empty.
func (r *registrar) drain(ctx context.Context, s *Server, sc state.Scope, key string, q *registrationQueue) {
	for {
		r.mu.Lock()
		if len(q.waiting) == 0 {
			q.busy = false
			delete(r.queues, key)
			r.mu.Unlock()
			return
		}
		n := min(len(q.waiting), maxRegistrationBatch)
		batch := q.waiting[:n:n]
		q.waiting = q.waiting[n:]
		r.mu.Unlock()

		err := s.commitRegistrations(ctx, sc, key, batch)
		for _, reg := range batch {
			if err != nil {
				reg.err = err
			}
			close(reg.done)
		}
	}
}

// commitRegistrations writes a batch of one family in one transaction.
func (s *Server) commitRegistrations(ctx context.Context, sc state.Scope, familyKey string, batch []*registration) error {
	family := *batch[0].def.Family
	return s.update(ctx, func() ([]store.Op, error) {
		fam := &state.TaskDefFamily{Schema: state.TaskDefSchema, Family: family}
		fo, found := s.store.Get(familyKey)
		if found {
			f, err := decodeCopy[state.TaskDefFamily](s, fo)
			if err != nil {
				return nil, err
			}
			fam = f
		}
		ops := make([]store.Op, 0, len(batch)+1)
		now := s.now()
		for _, reg := range batch {
			// Revisions are never reused, so the quota counts every one
			// handed out, deregistered or not, as ECS counts them.
			reg.result, reg.err = nil, nil
			if fam.LastRevision >= s.quotas.RevisionsPerFamily {
				reg.err = errRevisionsQuota(family, s.quotas.RevisionsPerFamily)
				continue
			}
			fam.LastRevision++
			fam.Active++
			fam.LatestActive = fam.LastRevision
			d := *reg.def
			d.Revision = ecs.Ptr(int32(fam.LastRevision))
			d.TaskDefinitionArn = ecs.Ptr(sc.ARN("task-definition/" + family + ":" + itoa(fam.LastRevision)))
			d.RegisteredAt = ecs.NewTimestamp(now)
			d.RegisteredBy = ecs.Ptr("arn:aws:iam::" + sc.Account + ":root")
			reg.result = &state.TaskDef{Schema: state.TaskDefSchema, Status: state.StatusActive, Tags: reg.tags, Definition: d}
			ops = append(ops, store.Create(sc.Key(state.KindTaskDef, family, state.RevisionKey(fam.LastRevision)), reg.result))
		}
		if len(ops) == 0 {
			return nil, nil // every registration is over the quota: nothing to write
		}
		if found {
			ops = append(ops, store.Put(familyKey, fam, fo.Rev))
		} else {
			ops = append(ops, store.Create(familyKey, fam))
		}
		return ops, nil
	})
}
