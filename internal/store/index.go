package store

import (
	"sort"
	"strings"
	"sync"
)

// Index groups the view's objects under a prefix by a name derived from each
// object: a secondary index the view keeps as it applies the watch's events,
// like a Kubernetes informer's indexers. Readers list one group without
// scanning the prefix, and can wait for a group to change without waking
// for every other write. (Berth indexes tasks by their container instance:
// an agent's session and placement both ask "what runs here?" of clusters
// with 100,000 tasks.)
type Index struct {
	v      *view
	prefix string
	nameOf func(*Object) string // "" leaves the object out

	// Guarded by v.mu.
	groups  map[string]map[string]*Object // group -> key -> object
	groupOf map[string]string             // key -> group
	// versions counts changes: a group's entry is the sequence number of
	// its last change; a rebuild moves base past every earlier number.
	seq, base uint64
	versions  map[string]uint64

	waitMu  sync.Mutex
	waiters map[string]chan struct{} // group -> closed at its next change
}

// AddIndex indexes every object under prefix by nameOf, which must depend
// only on the object's value. Add indexes before the store serves traffic.
func (s *Store) AddIndex(prefix string, nameOf func(*Object) string) *Index {
	ix := &Index{v: s.view, prefix: prefix, nameOf: nameOf, waiters: map[string]chan struct{}{}, versions: map[string]uint64{}}
	s.view.mu.Lock()
	defer s.view.mu.Unlock()
	ix.rebuild()
	s.view.indexes = append(s.view.indexes, ix)
	return ix
}

// List returns the group's objects in key order.
func (ix *Index) List(group string) []*Object {
	out := ix.ListUnordered(group)
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out
}

// ListUnordered returns the group's objects in no particular order, for
// readers that only count or look things up: it saves List's sort, which
// placement would otherwise pay for every instance it rebuilds.
func (ix *Index) ListUnordered(group string) []*Object {
	ix.v.mu.RLock()
	defer ix.v.mu.RUnlock()
	g := ix.groups[group]
	out := make([]*Object, 0, len(g))
	for _, o := range g {
		out = append(out, o)
	}
	return out
}

// Groups returns the name of every group that holds an object, in no
// particular order: for a reader that must find groups whose owner is gone.
func (ix *Index) Groups() []string {
	ix.v.mu.RLock()
	defer ix.v.mu.RUnlock()
	out := make([]string, 0, len(ix.groups))
	for g := range ix.groups {
		out = append(out, g)
	}
	return out
}

// Version is a number that changes whenever the group does: equal
// versions mean equal contents, so a reader can keep what it derived from a
// group until the version moves.
func (ix *Index) Version(group string) uint64 {
	ix.v.mu.RLock()
	defer ix.v.mu.RUnlock()
	return max(ix.versions[group], ix.base)
}

// Changed returns a channel closed the next time an object enters, leaves
// or changes in the group. Take it before reading the group, as with
// Store.Changed, and no change is missed.
func (ix *Index) Changed(group string) <-chan struct{} {
	ix.waitMu.Lock()
	defer ix.waitMu.Unlock()
	ch, ok := ix.waiters[group]
	if !ok {
		ch = make(chan struct{})
		ix.waiters[group] = ch
	}
	return ch
}

func (ix *Index) wake(group string) {
	ix.waitMu.Lock()
	if ch, ok := ix.waiters[group]; ok {
		close(ch)
		delete(ix.waiters, group)
	}
	ix.waitMu.Unlock()
}

// rebuild indexes the whole view afresh (after a relist). Callers hold v.mu.
func (ix *Index) rebuild() {
	ix.groups = map[string]map[string]*Object{}
	ix.groupOf = map[string]string{}
	ix.seq++
	ix.base, ix.versions = ix.seq, map[string]uint64{}
	ix.v.objects.AscendGreaterOrEqual(&Object{Key: ix.prefix}, func(o *Object) bool {
		if !strings.HasPrefix(o.Key, ix.prefix) {
			return false
		}
		ix.put(o)
		return true
	})
	ix.waitMu.Lock()
	for g, ch := range ix.waiters { // anything may have changed
		close(ch)
		delete(ix.waiters, g)
	}
	ix.waitMu.Unlock()
}

// apply records an event: o is the new object, or nil when key was deleted.
// Callers hold v.mu.
func (ix *Index) apply(key string, o *Object) {
	if !strings.HasPrefix(key, ix.prefix) {
		return
	}
	if old, ok := ix.groupOf[key]; ok {
		delete(ix.groups[old], key)
		if len(ix.groups[old]) == 0 {
			delete(ix.groups, old)
		}
		delete(ix.groupOf, key)
		ix.changed(old)
	}
	if o != nil {
		ix.changed(ix.put(o))
	}
}

// changed records a change to group and wakes its waiters.
func (ix *Index) changed(group string) {
	if group == "" {
		return
	}
	ix.seq++
	ix.versions[group] = ix.seq
	ix.wake(group)
}

func (ix *Index) put(o *Object) string {
	name := ix.nameOf(o)
	if name == "" {
		return ""
	}
	g := ix.groups[name]
	if g == nil {
		g = map[string]*Object{}
		ix.groups[name] = g
	}
	g[o.Key] = o
	ix.groupOf[o.Key] = name
	return name
}
