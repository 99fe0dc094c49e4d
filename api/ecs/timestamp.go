package ecs

import (
	"bytes"
	"fmt"
	"math/big"
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
	// The milliseconds are taken from the float's shortest decimal form,
	// not from its binary value: a float64 holds 253402300799.999 as
	// ...799.99899..., a millisecond off, but prints as ...799.999. (Not from
	// the request's text: an exponent such as 1e-99999999 would make a
	// number of millions of digits.)
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'f', -1, 64))
	if !ok {
		return fmt.Errorf("timestamp %s is not a number", b)
	}
	ms := new(big.Int).Quo(new(big.Int).Mul(r.Num(), big.NewInt(1000)), r.Denom()) // toward zero
	if r.Sign() < 0 && new(big.Int).Mul(ms, r.Denom()).Cmp(new(big.Int).Mul(r.Num(), big.NewInt(1000))) != 0 {
		ms.Sub(ms, big.NewInt(1)) // truncation of an instant is toward the past
	}
	t.Time = time.UnixMilli(ms.Int64())
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
