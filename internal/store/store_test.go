package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/internal/store"
)

type counter struct {
	N int `json:"n"`
}

// openStore starts a real embedded etcd in a temporary directory.
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.Dial(ctx, e.Endpoints())
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	s, err := store.Open(ctx, cli, "/test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); cli.Close(); e.Close() })
	return s
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())

	t.Run("a committed write is read back at once from the view", func(t *testing.T) {
		if _, err := s.Commit(ctx, store.Create("/test/a", counter{1})); err != nil {
			t.Fatal(err)
		}
		o, ok := s.Get("/test/a")
		if !ok {
			t.Fatal("written key not in the view")
		}
		v, err := store.Decode[counter](o)
		if err != nil || v.N != 1 {
			t.Fatalf("got %+v, %v", v, err)
		}
	})

	t.Run("create of an existing key conflicts and changes nothing", func(t *testing.T) {
		_, err := s.Commit(ctx, store.Create("/test/a", counter{2}))
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("want ErrConflict, got %v", err)
		}
		o, _ := s.Get("/test/a")
		if v, _ := store.Decode[counter](o); v.N != 1 {
			t.Fatalf("value changed to %d", v.N)
		}
	})

	t.Run("a put guarded by a stale revision conflicts", func(t *testing.T) {
		o, _ := s.Get("/test/a")
		if _, err := s.Commit(ctx, store.Put("/test/a", counter{5}, o.Rev)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, store.Put("/test/a", counter{6}, o.Rev)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("want ErrConflict, got %v", err)
		}
	})

	t.Run("a transaction writes all of its keys or none", func(t *testing.T) {
		_, err := s.Commit(ctx, store.Create("/test/b", counter{1}), store.Create("/test/a", counter{1}))
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("want ErrConflict, got %v", err)
		}
		if _, ok := s.Get("/test/b"); ok {
			t.Fatal("half of a failed transaction was written")
		}
	})

	t.Run("concurrent updates of one counter lose no increment", func(t *testing.T) {
		const workers, each = 8, 10
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					_, err := s.Update(ctx, func() ([]store.Op, error) {
						o, ok := s.Get("/test/counter")
						if !ok {
							return []store.Op{store.Create("/test/counter", counter{1})}, nil
						}
						v, err := store.DecodeCopy[counter](o)
						if err != nil {
							return nil, err
						}
						v.N++
						return []store.Op{store.Put(o.Key, v, o.Rev)}, nil
					})
					if err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		o, _ := s.Get("/test/counter")
		if v, _ := store.Decode[counter](o); v.N != workers*each {
			t.Fatalf("counter is %d, want %d", v.N, workers*each)
		}
	})

	t.Run("list pages through a prefix in key order", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if _, err := s.Commit(ctx, store.PutAny(fmt.Sprintf("/test/list/%02d", i), counter{i})); err != nil {
				t.Fatal(err)
			}
		}
		first := s.List("/test/list/", "", 2)
		if len(first) != 2 || first[0].Key != "/test/list/00" || first[1].Key != "/test/list/01" {
			t.Fatalf("first page: %v", keys(first))
		}
		rest := s.List("/test/list/", first[1].Key, 0)
		if len(rest) != 3 || rest[0].Key != "/test/list/02" {
			t.Fatalf("rest: %v", keys(rest))
		}
		if n := s.Count("/test/list/"); n != 5 {
			t.Fatalf("count %d", n)
		}
	})
}

func TestStoreSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := store.StartEmbedded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.Dial(ctx, e.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, cli, "/test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, store.Create("/test/kept", counter{42})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	cli.Close()
	e.Close()

	s2 := openStore(t, dir)
	o, ok := s2.Get("/test/kept")
	if !ok {
		t.Fatal("acknowledged write lost across a restart")
	}
	if v, _ := store.Decode[counter](o); v.N != 42 {
		t.Fatalf("got %d", v.N)
	}
}

func keys(objs []*store.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

// A data directory with a comma in its path is refused with a message that
// says so, not with etcd's "URL scheme must be http, https, unix, or unixs".
func TestDataDirectoryWithACommaIsRefusedClearly(t *testing.T) {
	_, err := store.StartEmbedded(context.Background(), filepath.Join(t.TempDir(), "a,b"))
	if err == nil || !strings.Contains(err.Error(), "comma") {
		t.Fatalf("got %v, want an error about the comma", err)
	}
}
