package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrLeaseLost: a write named a lease etcd no longer has (it expired, or
// was revoked). The writer takes a new lease and writes again.
var ErrLeaseLost = errors.New("store: lease lost")

// Lease is an etcd lease this process keeps alive. Keys written with it
// (PutLeased) are deleted by etcd once nobody has renewed it for its TTL:
// the way a process that crashed, or lost its network, stops vouching for
// what those keys say, without anyone having to notice it is gone.
type Lease struct {
	cli    *clientv3.Client
	id     clientv3.LeaseID
	cancel context.CancelFunc
	done   chan struct{} // closed when the lease is lost or closed
	ended  chan struct{} // closed when the keep-alive goroutine has returned
}

// GrantLease asks etcd for a lease of ttl (rounded up to whole seconds;
// etcd's minimum is a few seconds) and keeps it alive, renewing it every
// third of ttl, until Close or until it is lost. ctx bounds the grant only.
func (s *Store) GrantLease(ctx context.Context, ttl time.Duration) (*Lease, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	resp, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("grant etcd lease: %w", err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	ch, err := s.cli.KeepAlive(kctx, resp.ID)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("keep etcd lease alive: %w", err)
	}
	l := &Lease{cli: s.cli, id: resp.ID, cancel: cancel, done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(l.ended)
		// The client closes the channel when etcd says the lease is gone,
		// when no renewal has been answered for the lease's TTL (it may
		// have expired meanwhile), or when kctx ends: in every case this
		// process no longer vouches for the lease.
		for range ch {
		}
		close(l.done)
	}()
	return l, nil
}

// Done is closed once the lease is lost (or closed): keys written with it
// are gone, or about to be.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Close stops renewing the lease and revokes it, deleting its keys at
// once rather than after the TTL. Call it before closing the etcd client.
func (l *Lease) Close() {
	l.cancel()
	<-l.ended
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = l.cli.Revoke(ctx, l.id) // best effort: unrevoked, it expires
}

// PutLeased writes v at key, with the guard of Put (rev; 0: must not
// exist), attached to lease: etcd deletes the key when the lease ends.
func PutLeased(key string, v any, rev int64, lease *Lease) Op {
	return Op{key: key, value: mustJSON(v), rev: rev, lease: lease}
}

// PutLeasedAny is PutLeased without a guard.
func PutLeasedAny(key string, v any, lease *Lease) Op {
	return Op{key: key, value: mustJSON(v), any: true, lease: lease}
}

// Check guards a transaction on key being still at revision rev (0: still
// absent) and writes nothing: for a decision that rests on a record it
// does not change.
func Check(key string, rev int64) Op { return Op{key: key, rev: rev, check: true} }

// leaseLost: the transaction failed because a lease it named is gone.
func leaseLost(err error) bool { return errors.Is(err, rpctypes.ErrLeaseNotFound) }
