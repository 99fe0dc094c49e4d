package store

import (
	"encoding/json"
	"sync/atomic"
)

// Object is one stored record as the view holds it: its key, the etcd revision
// that last wrote it, and its JSON value. Objects are shared by every reader
// and must never be modified.
type Object struct {
	Key   string
	Rev   int64 // etcd ModRevision: the expected revision for a compare-and-swap write
	Value []byte

	// decoded caches the first Decode of Value. Every kind of record always
	// decodes into the same Go type, so the cache is hit on each later read.
	decoded atomic.Pointer[any]
}

// Decode returns the object's value decoded as a T. The result is shared with
// other readers through a cache: treat it as read-only. To change a record,
// use DecodeCopy and write the copy.
func Decode[T any](o *Object) (*T, error) {
	if p := o.decoded.Load(); p != nil {
		if v, ok := (*p).(*T); ok {
			return v, nil
		}
	}
	v, err := DecodeCopy[T](o)
	if err != nil {
		return nil, err
	}
	var a any = v
	o.decoded.Store(&a)
	return v, nil
}

// DecodeCopy returns a fresh, private copy of the object's value, safe to
// modify. A value that is an Upgrader is upgraded before it is returned, so
// a record written by an older version is read in the current form.
func DecodeCopy[T any](o *Object) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(o.Value, v); err != nil {
		return nil, err
	}
	if u, ok := any(v).(Upgrader); ok {
		u.Upgrade()
	}
	return v, nil
}

// Upgrader is a stored record that knows how to bring an older version of
// itself up to date.
type Upgrader interface{ Upgrade() }
