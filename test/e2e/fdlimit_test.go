package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

// fdLimit is the open-file limit the server runs under: low, so that a
// test can open many more connections than it.
const fdLimit = 256

// etcdPurgeInterval is how often the embedded etcd lists its WAL and
// snapshot directories (etcdserver's purgeFileInterval), the file it opens
// on its own; at the open-file limit that fails and etcd exits the process.
const etcdPurgeInterval = 30 * time.Second

// limitedServer is a `berth server` under an open-file limit of fdLimit.
type limitedServer struct {
	addr   string
	logs   *lockedBuffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

func startLimited(t *testing.T, bin, prlimit string, args ...string) *limitedServer {
	t.Helper()
	s := &limitedServer{addr: freePort(t), logs: &lockedBuffer{}, exited: make(chan struct{})}
	dataDir := t.TempDir()
	full := append([]string{"--nofile=" + strconv.Itoa(fdLimit) + ":" + strconv.Itoa(fdLimit), "--", bin, "server", "--listen", s.addr, "--data-dir", dataDir}, args...)
	cmd := exec.Command(prlimit, full...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dataDir}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("berth server's output:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !s.answers() {
		if time.Now().After(deadline) || s.hasExited() {
			t.Fatalf("berth server did not come up (exit: %v)", s.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func (s *limitedServer) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// answers: a signed ListClusters call succeeds.
func (s *limitedServer) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := clientFor("http://"+s.addr, auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey)
	_, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	return err == nil
}

// flood opens n idle connections to addr (the kernel completes them
// whether or not the server accepts) and returns a function that closes
// them.
func flood(t *testing.T, addr string, n int) func() {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", len(conns)+1, n, err)
		}
		conns = append(conns, c)
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// holdFor keeps the flood up for d, failing at once if the server exits.
func (s *limitedServer) holdFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.exited:
		t.Fatalf("berth server exited while the connections were held: %v", s.err)
	case <-time.After(d):
	}
}

// Many more idle connections than the open-file limit allows do not take
// the server down: the API listener's cap (by default below the limit)
// keeps descriptors for etcd, the server says in its log that it is at
// the cap, and it answers again once the connections close. Without the
// cap etcd died at its next directory listing, with exit status 1 and, its
// logger being a no-op, not a word; now its fatal error is in the log.
func TestServerSurvivesMoreConnectionsThanItsFileLimit(t *testing.T) {
	prlimit := berthtest.NeedTool(t, "/usr/bin/prlimit", "prlimit")
	bin := buildBerth(t)
	const connections = 4 * fdLimit

	t.Run("with the default cap it keeps serving and logs that it is at the cap", func(t *testing.T) {
		t.Parallel()
		s := startLimited(t, bin, prlimit)
		release := flood(t, s.addr, connections)
		defer release()
		// Long enough for etcd's periodic listing to run while every
		// connection the server would take is held.
		s.holdFor(t, etcdPurgeInterval+5*time.Second)
		if !strings.Contains(s.logs.String(), "API connections at their cap") {
			t.Fatal("the server did not log that its connections reached the cap")
		}
		release()
		deadline := time.Now().Add(60 * time.Second)
		for !s.answers() {
			if s.hasExited() || time.Now().After(deadline) {
				t.Fatalf("no answer to a signed call after the connections closed (exit: %v)", s.err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("without a cap etcd's fatal error is logged before the process exits", func(t *testing.T) {
		t.Parallel()
		s := startLimited(t, bin, prlimit, "--max-connections", "0")
		release := flood(t, s.addr, connections)
		defer release()
		select {
		case <-s.exited:
		case <-time.After(4 * etcdPurgeInterval):
			t.Skip("etcd never found the descriptors exhausted when it listed its directories; nothing to check")
		}
		logs := s.logs.String()
		if s.err == nil || !strings.Contains(logs, "component=etcd") || !strings.Contains(logs, "too many open files") {
			t.Fatalf("the server exited (%v) without etcd saying why", s.err)
		}
	})
}
