package lograte_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/lograte"
)

// fakeClock is moved by the test; timers fire when it passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), f: f})
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func newLogger(clock *fakeClock) (*slog.Logger, *bytes.Buffer) {
	var out bytes.Buffer
	h := slog.NewTextHandler(&out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(lograte.New(h, lograte.Options{Burst: 3, Interval: 10 * time.Second, Clock: clock})), &out
}

func lines(out *bytes.Buffer) []string {
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

func TestRepeatsAreDroppedAndSummarised(t *testing.T) {
	t.Run("a burst passes, the rest become one summary when the window ends", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1000, 0)}
		log, out := newLogger(clock)
		for i := range 20_000 {
			log.Warn("agent sent an unreadable frame", "err", fmt.Sprint("bad ", i))
		}
		if got := len(lines(out)); got != 3 {
			t.Fatalf("%d lines before the window ends, want the burst of 3:\n%s", got, out)
		}
		clock.Advance(10 * time.Second)
		got := lines(out)
		if len(got) != 4 || got[3] != `level=WARN msg="agent sent an unreadable frame (repeated 19997 more times in the last 10s)"` {
			t.Fatalf("after the window:\n%s", out)
		}
		clock.Advance(time.Hour)
		if len(lines(out)) != 4 {
			t.Fatalf("a second summary of the same records:\n%s", out)
		}
	})
	t.Run("the next record after the window writes the summary first, then passes", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1000, 0)}
		log, out := newLogger(clock)
		for range 5 {
			log.Info("service scheduler pass failed", "service", "web")
		}
		clock.mu.Lock()
		clock.now = clock.now.Add(11 * time.Second) // the timer has not run yet
		clock.mu.Unlock()
		log.Info("service scheduler pass failed", "service", "web")
		got := lines(out)
		want := []string{
			`level=INFO msg="service scheduler pass failed" service=web`,
			`level=INFO msg="service scheduler pass failed" service=web`,
			`level=INFO msg="service scheduler pass failed" service=web`,
			`level=INFO msg="service scheduler pass failed (repeated 2 more times in the last 10s)" service=web`,
			`level=INFO msg="service scheduler pass failed" service=web`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		clock.Advance(time.Minute) // the old window's timer finds it replaced
		if len(lines(out)) != 5 {
			t.Fatalf("the summary was written twice:\n%s", out)
		}
	})
	t.Run("key attributes, in the record or from With, give each source its own budget", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1000, 0)}
		log, out := newLogger(clock)
		a, b := log.With("instance", "i-a"), log.With("instance", "i-b")
		for range 10 {
			a.Warn("bad frame")
			b.Warn("bad frame")
			log.Warn("pass failed", "service", "web")
			log.Warn("pass failed", "service", "api")
		}
		if got := len(lines(out)); got != 12 {
			t.Fatalf("%d lines, want 3 for each of 4 sources:\n%s", got, out)
		}
		clock.Advance(10 * time.Second)
		if !strings.Contains(out.String(), `msg="bad frame (repeated 7 more times in the last 10s)" instance=i-b`) {
			t.Fatalf("no summary for i-b:\n%s", out)
		}
	})
	t.Run("levels and messages are counted apart; other attributes are not part of the kind", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1000, 0)}
		log, out := newLogger(clock)
		for i := range 10 {
			log.Info("x", "n", i)
			log.Warn("x", "n", i)
			log.Warn("y", "n", i)
		}
		if got := len(lines(out)); got != 9 {
			t.Fatalf("%d lines, want 9:\n%s", got, out)
		}
	})
	t.Run("a record of another kind after a long quiet is let through", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1000, 0)}
		log, out := newLogger(clock)
		for range 3 {
			log.Info("ready")
		}
		clock.Advance(time.Hour)
		log.Info("ready")
		if got := len(lines(out)); got != 4 {
			t.Fatalf("%d lines, want 4:\n%s", got, out)
		}
	})
}

// Wrapping twice limits once: cmd/berth wraps its logger and the daemon
// wraps whatever it is given.
func TestWrapIsIdempotent(t *testing.T) {
	log := lograte.Wrap(slog.New(slog.DiscardHandler))
	if lograte.Wrap(log) != log {
		t.Fatal("a wrapped logger was wrapped again")
	}
}

// Past MaxKeys kinds, the limiter stops telling sources apart rather than
// grow; the records are still limited.
func TestKindsAreBounded(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{now: time.Unix(1000, 0)}
	log := slog.New(lograte.New(slog.NewTextHandler(&out, nil), lograte.Options{Burst: 1, Interval: time.Minute, MaxKeys: 10, Clock: clock}))
	for i := range 1000 {
		log.Warn("bad frame", "instance", fmt.Sprint("i-", i))
	}
	if got := len(lines(&out)); got != 11 {
		t.Fatalf("%d lines, want 10 sources and 1 for the rest", got)
	}
}
