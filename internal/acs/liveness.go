package acs

import (
	"context"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/store"
)

// LivenessTTL is the TTL of the etcd lease a server keeps its agents'
// liveness keys on (state.AgentLiveness): when a server crashes or loses
// etcd, its agents show disconnected this long after its last renewal
// (the client renews every third of it), plus one pass of the leader's
// instances controller. Ten seconds is twice the leader election's lease:
// long enough that a busy or briefly partitioned server does not lose
// every session at once, short enough that a crash is noticed well within
// --agent-lost-after.
const LivenessTTL = 10 * time.Second

// liveness holds the one lease of this server process that every agent
// session's liveness key is attached to. A lost lease (expired while etcd
// was out of reach) is replaced by a new one at the next connect; the
// sessions whose keys were on the old one end (Agent.Lost), and their
// agents connect again onto the new one.
type liveness struct {
	store *store.Store
	ttl   time.Duration

	mu     sync.Mutex
	cur    *store.Lease
	closed bool
}

// lease returns the current lease, granting one when there is none or it
// was lost.
func (l *liveness) lease(ctx context.Context) (*store.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errShuttingDown
	}
	if l.cur != nil {
		select {
		case <-l.cur.Done():
			l.cur.Close() // revoke what may be left of it
			l.cur = nil
		default:
			return l.cur, nil
		}
	}
	ls, err := l.store.GrantLease(ctx, l.ttl)
	if err != nil {
		return nil, err
	}
	l.cur = ls
	return ls, nil
}

// forget drops ls when a write found it gone, so the next call grants anew.
func (l *liveness) forget(ls *store.Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == ls {
		l.cur.Close()
		l.cur = nil
	}
}

// close revokes the lease: whatever liveness keys are left vanish at once.
func (l *liveness) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
}

const errShuttingDown = sessionError("the server is shutting down")
