package state

import (
	"testing"
	"time"
)

// Events written in one pass get increasing createdAt, a millisecond (the
// wire's precision) apart at least, newest first, as ECS orders them.
func TestEventsWrittenTogetherAreOrderedByTheirStamps(t *testing.T) {
	r := &Service{Name: "web"}
	now := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)
	r.AddEvent(now, "(service web) (deployment d) deployment completed.")
	r.AddEvent(now, "(service web) has reached a steady state.")
	r.AddUnplaceableEvent(now, nil, "none")
	for i := 0; i+1 < len(r.Events); i++ {
		newer, older := r.Events[i].CreatedAt, r.Events[i+1].CreatedAt
		if newer.Sub(older) < time.Millisecond {
			t.Fatalf("event %q at %v is not a millisecond after %q at %v", r.Events[i].Message, newer, r.Events[i+1].Message, older)
		}
	}
	if r.Events[2].CreatedAt != now.Truncate(time.Millisecond) {
		t.Fatalf("the first event is stamped %v, want %v", r.Events[2].CreatedAt, now.Truncate(time.Millisecond))
	}
	later := now.Add(time.Hour)
	r.AddEvent(later, "later")
	if r.Events[0].CreatedAt != later.Truncate(time.Millisecond) {
		t.Fatalf("an event later than the others keeps its own time: %v", r.Events[0].CreatedAt)
	}
}
