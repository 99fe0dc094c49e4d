package store

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcd logs through zap; Berth through slog. slogCore carries etcd's
// records into Berth's log, so that its warnings and errors, and above all
// the message of a fatal error it exits on (a failed WAL write, a data
// directory it cannot read at the open-file limit), are in the same log as
// everything else instead of in a no-op logger.
type slogCore struct {
	log     *slog.Logger
	min     zapcore.Level
	closing *atomic.Bool // set once the embedded server is being closed
}

// Option configures the embedded etcd and the etcd client.
type Option func(*options)

type options struct {
	log      *slog.Logger
	minLevel zapcore.Level
	closing  *atomic.Bool
}

// WithLog sends etcd's records at warn level and above to log (etcd is
// chatty at info: every election, compaction and snapshot).
func WithLog(log *slog.Logger) Option { return func(o *options) { o.log = log } }

func collect(opts []Option) options {
	o := options{log: slog.Default(), minLevel: zapcore.WarnLevel, closing: &atomic.Bool{}}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// zapLogger is etcd's logger, writing to o.log with component=etcd.
func (o options) zapLogger() *zap.Logger {
	return zap.New(&slogCore{log: o.log.With("component", "etcd"), min: o.minLevel, closing: o.closing})
}

// benign are the warnings etcd logs on every start of Berth's embedded
// server, about choices made on purpose: they would only teach operators
// to ignore etcd's lines.
var benign = map[string]bool{
	// One Unix socket in the data directory serves both; nothing else
	// connects to it.
	"Running http and grpc server on single port. This is not recommended for production.": true,
	// etcd's own authentication is off: only this process reaches the
	// socket, and SigV4 guards Berth's API.
	"simple token is not cryptographically signed": true,
}

// quiet says which records say nothing an operator can act on: the
// benign warnings, the errors of the embedded server's listeners as Close
// stops them, a client call's retry failing because its caller gave up on
// it (at shutdown), and the storage-version check that runs before a new
// member's first raft entry is stored (etcd-io/etcd#18978, #20495; it is
// retried and succeeds). A fatal record is never quiet.
func (c *slogCore) quiet(e zapcore.Entry, fields []zapcore.Field) bool {
	if e.Level >= zapcore.DPanicLevel {
		return false
	}
	if benign[e.Message] || c.closing.Load() {
		return true
	}
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && (canceled(err) || bootstrapping(err)) {
			return true
		}
	}
	return false
}

func bootstrapping(err error) bool {
	return strings.Contains(err.Error(), "missing term information") || strings.Contains(err.Error(), "missing confstate information")
}

// canceled: the caller's context ended. The etcd client reports it as a
// gRPC status, which wraps nothing, hence the text.
func canceled(err error) bool {
	return errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "code = Canceled desc = context canceled")
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log.With(attrs(fields)...), min: c.min, closing: c.closing}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) && !c.quiet(e, nil) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write hands the record to slog synchronously: on a fatal entry zap exits
// the process right after Write returns, so nothing may be left queued.
func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if c.quiet(e, fields) {
		return nil
	}
	level := slog.LevelError
	extra := []any{}
	switch {
	case e.Level < zapcore.InfoLevel:
		level = slog.LevelDebug
	case e.Level < zapcore.WarnLevel:
		level = slog.LevelInfo
	case e.Level < zapcore.ErrorLevel:
		level = slog.LevelWarn
	case e.Level > zapcore.ErrorLevel:
		// slog has no level above error: say that etcd panics or exits.
		extra = append(extra, "etcdLevel", e.Level.String())
	}
	if e.LoggerName != "" {
		extra = append(extra, "logger", e.LoggerName)
	}
	c.log.Log(context.Background(), level, e.Message, append(extra, attrs(fields)...)...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// attrs turns zap fields into slog key-value pairs by way of zap's own map
// encoder, which knows every field type.
func attrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		out = append(out, k, enc.Fields[k])
	}
	return out
}
