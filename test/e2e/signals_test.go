package e2e

import (
	"syscall"
	"testing"
	"time"
)

func TestServerStopsCleanlyOnSignals(t *testing.T) {
	bin := buildBerth(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String()+" stops the server with exit status 0", func(t *testing.T) {
			s := &server{t: t, bin: bin, dataDir: t.TempDir()}
			s.start()
			s.cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- s.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit: %v\n%s", err, s.logs.String())
				}
			case <-time.After(20 * time.Second):
				s.cmd.Process.Kill()
				t.Fatalf("still running 20s after %v\n%s", sig, s.logs.String())
			}
			// The data directory is reusable at once: no stale lock or socket.
			s.start()
			s.kill()
		})
	}
}
