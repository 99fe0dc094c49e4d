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

	waitMu  sync.Mutex
	waiters map[string]chan struct{} // group -> closed at its next change
}

// AddIndex indexes every object under prefix by nameOf, which must depend
// only on the object's value. Add indexes before the store serves traffic.
func (s *Store) AddIndex(prefix string, nameOf func(*Object) string) *Index {
	ix := &Index{v: s.view, prefix: prefix, nameOf: nameOf, waiters: map[string]chan struct{}{}}
	s.view.mu.Lock()
	defer s.view.mu.Unlock()
	ix.rebuild()
	s.view.indexes = append(s.view.indexes, ix)
	return ix
}

// List returns the group's objects in key order.
func (ix *Index) List(group string) []*Object {
	ix.v.mu.RLock()
	g := ix.groups[group]
	out := make([]*Object, 0, len(g))
	for _, o := range g {
		out = append(out, o)
	}
	ix.v.mu.RUnlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out
}

// Count returns how many objects the group has.
func (ix *Index) Count(group string) int {
	ix.v.mu.RLock()
	defer ix.v.mu.RUnlock()
	return len(ix.groups[group])
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
		ix.wake(old)
	}
	if o != nil {
		ix.wake(ix.put(o))
	}
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
