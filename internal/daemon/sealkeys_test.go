package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/daemon"
)

// A keyring named with --seal-keys-file is one servers share: a missing
// file stops the server rather than have it seal with a key of its own.
func TestAMissingSealKeysFileStopsTheServer(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := daemon.Start(ctx, daemon.Config{Listen: "127.0.0.1:0", DataDir: dir, SealKeysFile: filepath.Join(dir, "absent.keys"),
		Getenv: func(string) string { return "" }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		d.Stop(ctx)
		t.Fatal("the server started without its keyring")
	}
	if !strings.Contains(err.Error(), "--seal-keys-file") {
		t.Fatalf("error %v does not name the flag", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "seal.keys")); !os.IsNotExist(err) {
		t.Fatalf("a key file of its own was made: %v", err)
	}
}
