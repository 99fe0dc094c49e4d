// Package lograte keeps a log readable when one thing goes wrong many times:
// a slog.Handler that lets the first few records with the same level,
// message and key attributes through per interval, drops the rest, and
// then writes one line saying how many were dropped. Twenty thousand
// garbage frames from an agent become a handful of lines, not twenty
// thousand, and a service that fails to place every second logs a few
// times a minute.
package lograte

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults: five lines a minute of each kind is enough to see what is
// happening and how often (the summary gives the count), and little enough
// that one broken agent or service cannot fill a disk.
const (
	DefaultBurst    = 5
	DefaultInterval = time.Minute
	// DefaultMaxKeys bounds the memory of the limiter: past it, records are
	// counted by level and message alone, whatever their key attributes.
	DefaultMaxKeys = 4096
)

// DefaultKeyAttrs are the attributes whose values tell one source of
// trouble from another: a failing service does not use up the budget of
// another, nor one broken agent that of the others.
var DefaultKeyAttrs = []string{"instance", "service", "task"}

// Clock is the time the limiter reads and the timer that ends a window;
// tests give a fake one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func())
}

type realClock struct{}

func (realClock) Now() time.Time                      { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// Options tune a Handler; zero fields take the defaults.
type Options struct {
	Burst    int           // records of one kind let through per interval
	Interval time.Duration // the window a burst is counted in
	KeyAttrs []string      // attribute names that are part of a record's kind
	MaxKeys  int
	Clock    Clock
}

// Handler is the rate-limiting wrapper. Handlers derived with WithAttrs or
// WithGroup share one budget with their parent.
type Handler struct {
	next    slog.Handler
	limiter *limiter
	// keyed holds the key attributes given through WithAttrs (a session's
	// logger.With("instance", ...)), in key form.
	keyed string
}

type limiter struct {
	burst     int
	interval  time.Duration
	keyAttrs  []string
	maxKeys   int
	clock     Clock
	mu        sync.Mutex
	windows   map[string]*window
	nextSweep time.Time
}

// window counts one kind of record from its first record for one interval.
type window struct {
	start      time.Time
	passed     int
	suppressed int
	// last is what the summary is written through and from: the handler
	// (with its attributes) and the record last dropped.
	lastHandler slog.Handler
	lastRecord  slog.Record
}

// New wraps next. A next that is already a *Handler is returned as is, so
// wrapping twice (cmd/berth and the daemon both do) limits once.
func New(next slog.Handler, opts Options) slog.Handler {
	if h, ok := next.(*Handler); ok {
		return h
	}
	l := &limiter{
		burst: opts.Burst, interval: opts.Interval, keyAttrs: opts.KeyAttrs, maxKeys: opts.MaxKeys, clock: opts.Clock,
		windows: map[string]*window{},
	}
	if l.burst <= 0 {
		l.burst = DefaultBurst
	}
	if l.interval <= 0 {
		l.interval = DefaultInterval
	}
	if l.keyAttrs == nil {
		l.keyAttrs = DefaultKeyAttrs
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if l.clock == nil {
		l.clock = realClock{}
	}
	return &Handler{next: next, limiter: l}
}

// Wrap is New with the default options, for a logger.
func Wrap(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(*Handler); ok {
		return log
	}
	return slog.New(New(log.Handler(), Options{}))
}

// Enabled defers to the wrapped handler: a record it would drop anyway
// costs the limiter nothing.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// WithAttrs keeps the budget shared and remembers key attributes.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	keyed := h.keyed
	for _, a := range attrs {
		if slices.Contains(h.limiter.keyAttrs, a.Key) {
			keyed += "\x00" + a.Key + "=" + a.Value.String()
		}
	}
	return &Handler{next: h.next.WithAttrs(attrs), limiter: h.limiter, keyed: keyed}
}

// WithGroup keeps the budget shared.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), limiter: h.limiter, keyed: h.keyed}
}

// Handle lets r through, drops it, or lets it through after the summary of
// the window it ends.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	summary, pass := h.limiter.admit(h, r)
	if summary != nil {
		summary()
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// admit decides about r under the lock; what it returns to write is
// written after the lock is released, so a slow writer does not hold up
// other goroutines' decisions.
func (l *limiter) admit(h *Handler, r slog.Record) (summary func(), pass bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	key := l.key(h, r)
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= l.interval {
		if w != nil && w.suppressed > 0 {
			summary = l.summaryOf(w, now)
		}
		l.windows[key] = &window{start: now, passed: 1}
		return summary, true
	}
	if w.passed < l.burst {
		w.passed++
		return nil, true
	}
	w.suppressed++
	w.lastHandler, w.lastRecord = h.next, r.Clone()
	if w.suppressed == 1 {
		// The summary is due when the window ends, even if this kind of
		// record never comes again.
		l.clock.AfterFunc(w.start.Add(l.interval).Sub(now), func() { l.endWindow(key, w) })
	}
	return nil, false
}

// key is the record's kind: level, message and key attributes. Past
// maxKeys kinds, new kinds are counted by level and message alone.
func (l *limiter) key(h *Handler, r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteString("\x00")
	b.WriteString(r.Message)
	plain := b.String()
	b.WriteString(h.keyed)
	r.Attrs(func(a slog.Attr) bool {
		if slices.Contains(l.keyAttrs, a.Key) {
			b.WriteString("\x00" + a.Key + "=" + a.Value.String())
		}
		return true
	})
	key := b.String()
	if _, known := l.windows[key]; !known && len(l.windows) >= l.maxKeys {
		return plain
	}
	return key
}

// endWindow writes the summary of w when its interval is over, unless a
// later record already did.
func (l *limiter) endWindow(key string, w *window) {
	l.mu.Lock()
	var summary func()
	if l.windows[key] == w {
		if w.suppressed > 0 {
			summary = l.summaryOf(w, w.start.Add(l.interval))
		}
		delete(l.windows, key)
	}
	l.mu.Unlock()
	if summary != nil {
		summary()
	}
}

// sweep forgets, once an interval, the windows that are over and dropped
// nothing (those that dropped something end by their timer), so a stream
// of distinct messages does not grow the map for ever.
func (l *limiter) sweep(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(l.interval)
	for k, w := range l.windows {
		if w.suppressed == 0 && now.Sub(w.start) >= l.interval {
			delete(l.windows, k)
		}
	}
}

// summaryOf is the line that stands for w's dropped records: the last of
// them, at its level, with its message and key attributes, saying how many
// there were. It resets the count, so no record is counted twice.
func (l *limiter) summaryOf(w *window, at time.Time) func() {
	n, handler, last := w.suppressed, w.lastHandler, w.lastRecord
	w.suppressed = 0
	msg := fmt.Sprintf("%s (repeated %d more times in the last %s)", last.Message, n, l.interval)
	r := slog.NewRecord(at, last.Level, msg, last.PC)
	last.Attrs(func(a slog.Attr) bool {
		if slices.Contains(l.keyAttrs, a.Key) {
			r.AddAttrs(a)
		}
		return true
	})
	return func() { handler.Handle(context.Background(), r) }
}
