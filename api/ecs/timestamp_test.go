package ecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

// A timestamp outside years 0-9999 cannot be stored (time.Time writes only
// RFC 3339 years), so it is refused where it is read.
func TestTimestampOutOfRangeIsRefused(t *testing.T) {
	for _, in := range []string{
		"1e300", "-1e300", "-1e18", "1e18", "253402300800", "-62167219201",
		`"0000-01-01T00:00:00+01:00"`, // year -1 in UTC
	} {
		var ts ecs.Timestamp
		if err := json.Unmarshal([]byte(in), &ts); err == nil {
			t.Errorf("%s decoded as %v", in, ts.Time)
		}
	}
	for in, want := range map[string]time.Time{
		"253402300799.5": time.Date(9999, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		// Exact to the millisecond, though no float64 holds these.
		"253402300799.999": time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		"1.579806093381E9": time.UnixMilli(1579806093381),
		"1700000000.0009":  time.UnixMilli(1700000000000),
		"-0.0005":          time.UnixMilli(-1),
		"-62167219200":     time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		"0":                time.Unix(0, 0),
	} {
		var ts ecs.Timestamp
		if err := json.Unmarshal([]byte(in), &ts); err != nil || !ts.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, ts.Time, err, want)
		}
		if _, err := json.Marshal(ts.Time); err != nil {
			t.Errorf("%s decodes to a time that cannot be stored: %v", in, err)
		}
	}
}

type stateChanges struct{ ecs.UnimplementedHandler }

func (stateChanges) SubmitTaskStateChange(context.Context, *ecs.SubmitTaskStateChangeRequest) (*ecs.SubmitTaskStateChangeResponse, error) {
	return &ecs.SubmitTaskStateChangeResponse{}, nil
}

func TestDispatchRefusesOutOfRangeTimestamps(t *testing.T) {
	for _, body := range []string{
		`{"task":"t","executionStoppedAt":1e300}`,
		`{"task":"t","pullStartedAt":-1e18}`,
		`{"task":"t","containers":[{"containerName":"c"}],"attachments":[],"managedAgents":[],"pullStoppedAt":"99999-01-01T00:00:00Z"}`,
	} {
		_, err := ecs.Dispatch(context.Background(), stateChanges{}, "SubmitTaskStateChange", []byte(body))
		var e *ecs.Error
		if !errors.As(err, &e) || e.Code != ecs.CodeSerialization || e.Status != 400 || !strings.Contains(e.Message, "Could not read '") {
			t.Errorf("%s: got %v, want a 400 SerializationException naming the timestamp", body, err)
		}
	}
}
