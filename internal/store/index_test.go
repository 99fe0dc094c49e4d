package store_test

import (
	"context"
	"testing"

	"github.com/berth-project/berth/internal/store"
)

type placed struct {
	Host string `json:"host"`
}

func TestIndex(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.Commit(ctx, store.Create("/test/tasks/1", placed{"a"})); err != nil {
		t.Fatal(err)
	}
	// An index added after writes starts with them.
	ix := s.AddIndex("/test/tasks/", func(o *store.Object) string {
		p, err := store.Decode[placed](o)
		if err != nil {
			return ""
		}
		return p.Host
	})
	keys := func(group string) []string {
		var out []string
		for _, o := range ix.List(group) {
			out = append(out, o.Key)
		}
		return out
	}
	if got := keys("a"); len(got) != 1 || got[0] != "/test/tasks/1" {
		t.Fatalf("group a: %v", got)
	}

	changedA, changedB := ix.Changed("a"), ix.Changed("b")
	verA, verB := ix.Version("a"), ix.Version("b")
	if _, err := s.Commit(ctx, store.Create("/test/tasks/2", placed{"b"}), store.Create("/test/other", placed{"a"})); err != nil {
		t.Fatal(err)
	}
	if ix.Version("a") != verA || ix.Version("b") == verB {
		t.Fatalf("versions: a %d -> %d (untouched), b %d -> %d (changed)", verA, ix.Version("a"), verB, ix.Version("b"))
	}
	select {
	case <-changedB:
	default:
		t.Fatal("group b was not woken by a new member")
	}
	select {
	case <-changedA:
		t.Fatal("group a was woken by a write that did not touch it")
	default:
	}
	if got := keys("b"); len(got) != 1 || len(keys("a")) != 1 {
		t.Fatalf("group b %v, a has %d", got, len(keys("a")))
	}

	// Moving an object moves it between groups and wakes both.
	o, _ := s.Get("/test/tasks/1")
	changedB = ix.Changed("b")
	if _, err := s.Commit(ctx, store.Put("/test/tasks/1", placed{"b"}, o.Rev)); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan struct{}{"a": changedA, "b": changedB} {
		select {
		case <-ch:
		default:
			t.Fatalf("group %s not woken by the move", name)
		}
	}
	if got := keys("b"); len(got) != 2 || len(keys("a")) != 0 {
		t.Fatalf("after the move: b %v, a %d", got, len(keys("a")))
	}

	// A delete leaves the group.
	o, _ = s.Get("/test/tasks/2")
	verB = ix.Version("b")
	if _, err := s.Commit(ctx, store.Delete("/test/tasks/2", o.Rev)); err != nil {
		t.Fatal(err)
	}
	if ix.Version("b") == verB {
		t.Fatal("a delete did not change the group's version")
	}
	if got := keys("b"); len(got) != 1 || got[0] != "/test/tasks/1" {
		t.Fatalf("after the delete: %v", got)
	}
}
