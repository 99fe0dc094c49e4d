package server

import (
	"context"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/internal/store"
)

func testStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := store.Dial(ctx, e.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	st, err := store.Open(ctx, cli, state.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// Stopped tasks stay describable for the retention period, then go; tasks
// that run, or stopped recently, stay.
func TestCollectStoppedTasks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	records := state.New(testStore(t), nil)
	s := New(records, placement.New(records, nil), Options{Now: func() time.Time { return now }})
	sc := state.Scope{Account: "123456789012", Region: "us-east-1"}
	put := func(id, status string, stoppedAgo time.Duration) {
		t.Helper()
		rec := &state.Task{Schema: state.TaskSchema, ID: id, Cluster: "c", LastStatus: status, DesiredStatus: status}
		if status == "STOPPED" {
			at := now.Add(-stoppedAgo)
			rec.StoppedAt = &at
		}
		if _, err := s.store.Commit(ctx, store.Create(sc.Key(state.KindTask, "c", id), rec)); err != nil {
			t.Fatal(err)
		}
	}
	put("old", "STOPPED", 61*time.Minute)
	put("recent", "STOPPED", 59*time.Minute)
	put("running", "RUNNING", 0)

	n, err := s.CollectStoppedTasks(ctx, StoppedTaskRetention)
	if err != nil || n != 1 {
		t.Fatalf("collected %d (%v), want 1", n, err)
	}
	for id, want := range map[string]bool{"old": false, "recent": true, "running": true} {
		if _, found := s.store.Get(sc.Key(state.KindTask, "c", id)); found != want {
			t.Fatalf("task %s present %v, want %v", id, found, want)
		}
	}
}
