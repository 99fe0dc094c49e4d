package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/store"
)

// A key written with a lease lives while the lease is kept alive and is
// gone from the view once it is revoked; a write naming a lease that is
// gone is ErrLeaseLost, not a conflict.
func TestLease(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	l, err := s.GrantLease(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, store.PutLeased("/test/alive", counter{1}, 0, l)); err != nil {
		t.Fatal(err)
	}
	// Past its TTL the key is still there: the lease is being renewed.
	time.Sleep(3 * time.Second)
	if _, ok := s.Get("/test/alive"); !ok {
		t.Fatal("the leased key expired although its lease was kept alive")
	}
	select {
	case <-l.Done():
		t.Fatal("a lease kept alive reports itself lost")
	default:
	}

	changed := s.Changed()
	l.Close()
	<-l.Done()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := s.Get("/test/alive"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leased key outlived its revoked lease")
		}
		<-changed
		changed = s.Changed()
	}
	_, err = s.Commit(ctx, store.PutLeasedAny("/test/late", counter{1}, l))
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("write with a revoked lease: want ErrLeaseLost, got %v", err)
	}
}

// Check guards a transaction on a key it does not write.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.Commit(ctx, store.Check("/test/guard", 0), store.PutAny("/test/a", counter{1})); err != nil {
		t.Fatalf("check of an absent key: %v", err)
	}
	if _, ok := s.Get("/test/guard"); ok {
		t.Fatal("a check wrote its key")
	}
	if _, err := s.Commit(ctx, store.Create("/test/guard", counter{1})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, store.Check("/test/guard", 0), store.PutAny("/test/a", counter{2})); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("check of a key that now exists: want ErrConflict, got %v", err)
	}
	o, _ := s.Get("/test/guard")
	if _, err := s.Commit(ctx, store.Check(o.Key, o.Rev), store.PutAny("/test/a", counter{3})); err != nil {
		t.Fatalf("check at the current revision: %v", err)
	}
	if o, _ := s.Get("/test/a"); o == nil {
		t.Fatal("guarded write missing")
	} else if v, _ := store.Decode[counter](o); v.N != 3 {
		t.Fatalf("a is %d, want 3", v.N)
	}
}

func TestIndexGroups(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	ix := s.AddIndex("/test/tasks/", func(o *store.Object) string {
		p, err := store.Decode[placed](o)
		if err != nil {
			return ""
		}
		return p.Host
	})
	for i, host := range []string{"a", "b", "b", ""} {
		if _, err := s.Commit(ctx, store.Create("/test/tasks/"+string(rune('0'+i)), placed{host})); err != nil {
			t.Fatal(err)
		}
	}
	got := ix.Groups()
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("groups %v, want [a b]", got)
	}
}
