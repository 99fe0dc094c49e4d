package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// etcd's records at warn and above reach Berth's log, with their fields;
// info, the warnings every embedded start gives, and everything while the
// embedded server is being closed do not.
func TestEtcdLogsThroughSlog(t *testing.T) {
	var out bytes.Buffer
	o := collect([]Option{WithLog(slog.New(slog.NewTextHandler(&out, nil)))})
	lg := o.zapLogger().With(zap.String("member", "berth"))

	lg.Info("elected leader")
	lg.Warn("simple token is not cryptographically signed")
	lg.Warn("retrying of unary invoker failed", zap.Error(errors.New("rpc error: code = Canceled desc = context canceled")))
	lg.Warn("slow fdatasync", zap.Duration("took", 1500e6), zap.Int("expected", 1))
	lg.Error("failed to purge wal file", zap.Error(errors.New("too many open files")))
	o.closing.Store(true)
	lg.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("http: Server closed")))

	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`level=WARN msg="slow fdatasync" component=etcd member=berth expected=1 took=1.5s`,
		`level=ERROR msg="failed to purge wal file" component=etcd member=berth error="too many open files"`,
	}
	if len(got) != len(want) {
		t.Fatalf("got\n%s", out.String())
	}
	for i := range want {
		if _, rest, _ := strings.Cut(got[i], " "); rest != want[i] {
			t.Errorf("line %d: %s\nwant %s", i, rest, want[i])
		}
	}
}
