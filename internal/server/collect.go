package server

import (
	"context"
	"errors"
	"time"

	"github.com/berth-project/berth/internal/state"

	"github.com/berth-project/berth/internal/store"
)

// StoppedTaskRetention is how long a stopped task stays describable: ECS
// keeps them for at least an hour.
const StoppedTaskRetention = time.Hour

// CollectStoppedTasks deletes the tasks, of every account and region, that
// have been STOPPED for longer than keep. It is safe to run on several
// replicas at once: each delete is guarded by the revision it saw.
func (s *Server) CollectStoppedTasks(ctx context.Context, keep time.Duration) (int, error) {
	cutoff := s.now().Add(-keep)
	n := 0
	for _, o := range s.store.List(state.Root+state.KindTask+"/", "", 0) {
		t, err := decode[state.Task](s, o)
		if err != nil || t.LastStatus != "STOPPED" || t.StoppedAt == nil || t.StoppedAt.After(cutoff) {
			continue
		}
		_, err = s.store.Commit(ctx, store.Delete(o.Key, o.Rev))
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrConflict):
			// Changed or collected by someone else meanwhile: the next round decides.
		default:
			return n, err
		}
	}
	return n, nil
}
