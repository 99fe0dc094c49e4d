package service

import (
	"time"

	"github.com/berth-project/berth/internal/rollout"
	"github.com/berth-project/berth/internal/state"
)

// replacementBatchWait bounds how long the old tasks of a rolling update
// wait for the new ones still starting: past it they are stopped as the
// new ones become healthy, one pass at a time.
const replacementBatchWait = 10 * time.Second

// batchReplacements holds back the stops of older deployments' tasks while
// tasks of the primary are still starting (PENDING), for at most
// replacementBatchWait after the newest of them was created, when
// minimumHealthyPercent lets only some of the old tasks go now. New tasks
// are started together and report RUNNING milliseconds apart; stopping an
// old task as each comes up would write one "has stopped 1 running tasks"
// event per task, where ECS stops the batch at once with one event. When
// every old task may go at once (a low minimumHealthyPercent) nothing is
// held; scale-in, unhealthy, draining and ineligible stops never are. It
// answers the stops to make now, and when to look again for the ones held.
func batchReplacements(stops []rollout.Stop, tasks []state.ServiceTask, primary string, now time.Time) ([]rollout.Stop, time.Time) {
	var until time.Time
	old, replaced := 0, 0
	for _, s := range stops {
		if s.Why == rollout.Replaced {
			replaced++
		}
	}
	for _, st := range tasks {
		t := st.Rec
		if t.StartedBy != primary && t.Live() {
			old++
		}
		if t.StartedBy != primary || !t.Live() || !state.IsPending(t.LastStatus) {
			continue
		}
		if end := t.CreatedAt.Add(replacementBatchWait); now.Before(end) && end.After(until) {
			until = end
		}
	}
	if until.IsZero() || replaced == 0 || replaced >= old {
		return stops, time.Time{}
	}
	var stopNow []rollout.Stop
	for _, s := range stops {
		if s.Why != rollout.Replaced {
			stopNow = append(stopNow, s)
		}
	}
	return stopNow, until
}
