package store

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// view is the watch-fed, in-memory copy of everything under the store's
// prefix. Every read of the API is served from it, so Describe and List calls
// never reach etcd. It is the pattern of a Kubernetes informer: list once, then
// apply the watch's events in revision order; after a compaction or a broken
// watch, list again.
type view struct {
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger

	mu      sync.RWMutex
	objects *btree.BTreeG[*Object] // ordered by key
	rev     int64                  // the etcd revision the view reflects
	changed chan struct{}          // closed and replaced whenever rev advances
	indexes []*Index               // kept in step with objects

	live     chan struct{} // closed once the watch has answered for the first time
	liveOnce sync.Once
}

func newView(cli *clientv3.Client, prefix string, log *slog.Logger) *view {
	return &view{
		cli:     cli,
		prefix:  prefix,
		log:     log,
		objects: btree.NewG(32, func(a, b *Object) bool { return a.Key < b.Key }),
		changed: make(chan struct{}),
		live:    make(chan struct{}),
	}
}

// waitLive blocks until the view's watch has answered once, asking for a
// progress notification until it does. A watch etcd has not yet caught up
// delivers nothing: a second server sharing an etcd was seen serving the
// state of its start for over a second. Because the watch starts at the
// listing's own revision, etcd answers the request once the watch has
// caught up (it answers none for a watch that starts past the current
// revision).
func (v *view) waitLive(ctx context.Context) error {
	for {
		select {
		case <-v.live:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
			_ = v.cli.RequestProgress(clientv3.WithRequireLeader(ctx))
		}
	}
}

// load replaces the view with a consistent listing of the prefix and returns
// the revision it was read at.
func (v *view) load(ctx context.Context) (int64, error) {
	resp, err := v.cli.Get(ctx, v.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	tree := btree.NewG(32, func(a, b *Object) bool { return a.Key < b.Key })
	for _, kv := range resp.Kvs {
		tree.ReplaceOrInsert(&Object{Key: string(kv.Key), Rev: kv.ModRevision, Value: kv.Value})
	}
	v.mu.Lock()
	v.objects = tree
	for _, ix := range v.indexes {
		ix.rebuild()
	}
	v.advance(resp.Header.Revision)
	v.mu.Unlock()
	return resp.Header.Revision, nil
}

// run keeps the view current until ctx ends. It watches from the revision
// that load returned: the events of that revision are in the listing
// already, and applying them again changes nothing.
func (v *view) run(ctx context.Context, rev int64) {
	for ctx.Err() == nil {
		err := v.follow(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		v.log.Warn("store watch ended; listing again", "err", err)
		for ctx.Err() == nil {
			if rev, err = v.load(ctx); err == nil {
				break
			}
			v.log.Warn("store relist failed", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// follow applies watch events from rev on until the watch fails.
func (v *view) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := v.cli.Watch(wctx, v.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithProgressNotify())
	for resp := range ch {
		if err := resp.Err(); err != nil {
			return err // compacted or cancelled: run lists again
		}
		v.liveOnce.Do(func() { close(v.live) })
		// A progress notification promises every event up to its revision
		// has been delivered; an event batch only vouches for its own events
		// (a watcher catching up may be sent a header revision ahead of them).
		rev := int64(0)
		if resp.IsProgressNotify() {
			rev = resp.Header.Revision
		}
		v.mu.Lock()
		for _, ev := range resp.Events {
			rev = max(rev, ev.Kv.ModRevision)
			key := string(ev.Kv.Key)
			if ev.Type == mvccpb.DELETE {
				v.objects.Delete(&Object{Key: key})
				for _, ix := range v.indexes {
					ix.apply(key, nil)
				}
				continue
			}
			o := &Object{Key: key, Rev: ev.Kv.ModRevision, Value: ev.Kv.Value}
			v.objects.ReplaceOrInsert(o)
			for _, ix := range v.indexes {
				ix.apply(key, o)
			}
		}
		v.advance(rev)
		v.mu.Unlock()
	}
	return errors.New("watch channel closed")
}

// advance moves the view's revision forward and wakes everyone waiting for
// it. Callers hold v.mu.
func (v *view) advance(rev int64) {
	if rev <= v.rev {
		return
	}
	v.rev = rev
	close(v.changed)
	v.changed = make(chan struct{})
}

// waitFor blocks until the view reflects revision rev. Progress notifications
// move the view's revision past writes outside its prefix, so a wait for such
// a revision ends too; it asks for one when the wait is long.
func (v *view) waitFor(ctx context.Context, rev int64) error {
	for {
		v.mu.RLock()
		cur, changed := v.rev, v.changed
		v.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
			// Ask etcd to tell the watch how far it is: the revision we wait
			// for may belong to a key outside our prefix.
			_ = v.cli.RequestProgress(clientv3.WithRequireLeader(ctx))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (v *view) get(key string) (*Object, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.objects.Get(&Object{Key: key})
}

// list returns up to limit objects (all, when limit <= 0) whose keys start
// with prefix and sort after `after`, in key order.
func (v *view) list(prefix, after string, limit int) []*Object {
	v.mu.RLock()
	defer v.mu.RUnlock()
	start := prefix
	if after > start {
		start = after + "\x00"
	}
	var out []*Object
	v.objects.AscendGreaterOrEqual(&Object{Key: start}, func(o *Object) bool {
		if !strings.HasPrefix(o.Key, prefix) {
			return false
		}
		out = append(out, o)
		return limit <= 0 || len(out) < limit
	})
	return out
}

func (v *view) count(prefix string) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n := 0
	v.objects.AscendGreaterOrEqual(&Object{Key: prefix}, func(o *Object) bool {
		if !strings.HasPrefix(o.Key, prefix) {
			return false
		}
		n++
		return true
	})
	return n
}

func (v *view) revision() int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.rev
}
