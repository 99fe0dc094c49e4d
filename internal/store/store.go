// Package store owns Berth's state in etcd: the key layout, writes as
// compare-on-revision transactions, and the watch-fed in-memory view every
// read is served from. It knows nothing of ECS semantics: records are JSON
// values under keys, and their meaning belongs to the packages above.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrConflict means a transaction's expected revisions no longer hold: someone
// else wrote first. Update retries on it; callers of Commit decide themselves.
var ErrConflict = errors.New("store: conflicting write")

// Store is Berth's state: etcd for writes, the view for reads.
type Store struct {
	cli    *clientv3.Client
	prefix string
	view   *view
	cancel context.CancelFunc
	done   chan struct{}
}

// Open loads everything under prefix into the view and keeps it current until
// Close. prefix scopes the store in a shared etcd (e.g. "/berth/").
func Open(ctx context.Context, cli *clientv3.Client, prefix string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	v := newView(cli, prefix, log)
	rev, err := v.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load state from etcd: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{cli: cli, prefix: prefix, view: v, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		v.run(runCtx, rev)
	}()
	if err := v.waitLive(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("watch state in etcd: %w", err)
	}
	return s, nil
}

// Close stops following etcd. It does not close the etcd client.
func (s *Store) Close() {
	s.cancel()
	<-s.done
}

// Get returns the object at key from the view.
func (s *Store) Get(key string) (*Object, bool) { return s.view.get(key) }

// List returns up to limit objects (all when limit <= 0) under prefix whose
// keys sort after `after` ("" for the start), in key order.
func (s *Store) List(prefix, after string, limit int) []*Object {
	return s.view.list(prefix, after, limit)
}

// Count returns the number of objects under prefix.
func (s *Store) Count(prefix string) int { return s.view.count(prefix) }

// Revision is the etcd revision the view currently reflects.
func (s *Store) Revision() int64 { return s.view.revision() }

// Op is one write of a transaction, guarded by the revision the writer saw.
type Op struct {
	key    string
	value  []byte
	delete bool
	rev    int64  // expected ModRevision; 0 means "must not exist"
	any    bool   // no guard at all
	check  bool   // a guard only: nothing is written
	lease  *Lease // the key lives as long as this lease (nil: for ever)
}

// Create writes v at key, which must not exist yet.
func Create(key string, v any) Op { return Op{key: key, value: mustJSON(v)} }

// Put overwrites key with v if it is still at revision rev (the Rev of the
// Object the writer read).
func Put(key string, v any, rev int64) Op { return Op{key: key, value: mustJSON(v), rev: rev} }

// PutAny writes v at key whatever is there: for records a single writer owns.
func PutAny(key string, v any) Op { return Op{key: key, value: mustJSON(v), any: true} }

// Delete removes key if it is still at revision rev.
func Delete(key string, rev int64) Op { return Op{key: key, delete: true, rev: rev} }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Records are plain structs; failing to encode one is a programming error.
		panic(fmt.Sprintf("store: encode record: %v", err))
	}
	return b
}

// Commit applies ops atomically if every guard holds, then waits until the
// view shows the result, so the caller reads its own write. It returns the
// revision of the write, or ErrConflict.
func (s *Store) Commit(ctx context.Context, ops ...Op) (int64, error) {
	if len(ops) == 0 {
		return s.view.revision(), nil
	}
	var cmps []clientv3.Cmp
	var writes []clientv3.Op
	for _, op := range ops {
		if !op.any {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(op.key), "=", op.rev))
		}
		switch {
		case op.check:
		case op.delete:
			writes = append(writes, clientv3.OpDelete(op.key))
		case op.lease != nil:
			writes = append(writes, clientv3.OpPut(op.key, string(op.value), clientv3.WithLease(op.lease.id)))
		default:
			writes = append(writes, clientv3.OpPut(op.key, string(op.value)))
		}
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(writes...).Commit()
	if leaseLost(err) {
		return 0, fmt.Errorf("%w: %v", ErrLeaseLost, err)
	}
	if err != nil {
		return 0, fmt.Errorf("etcd transaction: %w", err)
	}
	if !resp.Succeeded {
		// Let the view catch up with whatever beat us, so a retry sees it.
		if err := s.view.waitFor(ctx, resp.Header.Revision); err != nil {
			return 0, err
		}
		return 0, ErrConflict
	}
	if err := s.view.waitFor(ctx, resp.Header.Revision); err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// DeleteAll deletes every key of the store (everything under its prefix) in
// one etcd operation, and waits until the view has seen it. It is for a
// test aid that starts over (the emulator's reset), never for the state a
// user keeps.
func (s *Store) DeleteAll(ctx context.Context) error {
	resp, err := s.cli.Delete(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("etcd delete: %w", err)
	}
	return s.view.waitFor(ctx, resp.Header.Revision)
}

// maxAttempts bounds Update's retries; contention beyond it is reported.
const maxAttempts = 50

// Update runs plan against the current view and commits the ops it returns,
// retrying from fresh state when another writer got there first. plan must
// only read (from the view) and must be safe to run more than once. An error
// from plan is returned as is, with nothing written.
func (s *Store) Update(ctx context.Context, plan func() ([]Op, error)) (int64, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		ops, err := plan()
		if err != nil {
			return 0, err
		}
		rev, err := s.Commit(ctx, ops...)
		if !errors.Is(err, ErrConflict) {
			return rev, err
		}
		// Back off with jitter so writers racing for one hot key spread out
		// instead of colliding again in lockstep.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("store: gave up after %d conflicting attempts", maxAttempts)
}

// Changed returns a channel that is closed the next time the view moves to
// a newer revision. Watchers take it, read the view, and wait on it: a
// change between the two is never missed.
func (s *Store) Changed() <-chan struct{} {
	s.view.mu.RLock()
	defer s.view.mu.RUnlock()
	return s.view.changed
}
