package ecs

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Timestamp is an instant as the AWS JSON 1.1 protocol carries it: seconds
// since the Unix epoch as a JSON number, with millisecond precision
// (ECS sends values such as 1.579806093381E9).
type Timestamp struct{ time.Time }

// NewTimestamp returns t as a *Timestamp, truncated to milliseconds as ECS keeps it.
func NewTimestamp(t time.Time) *Timestamp {
	return &Timestamp{t.Truncate(time.Millisecond)}
}

// MarshalJSON writes epoch seconds, with up to three decimals.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON accepts epoch seconds as a JSON number (what the SDKs send)
// and, leniently, an RFC 3339 string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q is neither epoch seconds nor RFC 3339", s)
		}
		if y := v.UTC().Year(); y < minYear || y > maxYear {
			return fmt.Errorf("timestamp %q is outside the years %d to %d", s, minYear, maxYear)
		}
		t.Time = v
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s is not a number", b)
	}
	// Checked before any conversion: int64(f) of a float out of range is
	// undefined, and a time outside years 0-9999 cannot be stored (RFC 3339).
	if !(f >= minEpochSeconds && f < maxEpochSeconds) {
		return fmt.Errorf("timestamp %s is outside the years %d to %d", b, minYear, maxYear)
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).Truncate(time.Millisecond)
	return nil
}

// The range a Timestamp may hold: what RFC 3339 (and so time.Time's
// MarshalJSON, which the store uses) can write.
const (
	minYear = 0
	maxYear = 9999
)

var (
	minEpochSeconds = float64(time.Date(minYear, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	maxEpochSeconds = float64(time.Date(maxYear+1, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
)
