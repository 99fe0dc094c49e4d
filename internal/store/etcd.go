package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Embedded is a single-member etcd server running inside this process, with its
// data under one directory. It listens on Unix sockets in that directory only:
// nothing is exposed on the network, and two Berth servers on one machine with
// different data directories never collide on ports.
type Embedded struct {
	etcd      *embed.Etcd
	clientURL string
	closing   *atomic.Bool // quiets etcd's log while Close stops it
}

// unixSocketMax is the longest path a Unix socket may have on Linux (sun_path),
// less the terminating NUL.
const unixSocketMax = 107

// StartEmbedded starts etcd in dir (created if needed) and waits until it
// serves. The caller must Close it. etcd logs its warnings and errors
// through WithLog's logger (slog.Default() without it).
func StartEmbedded(ctx context.Context, dir string, opts ...Option) (*Embedded, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	clientSock := filepath.Join(dir, "etcd-client.sock")
	peerSock := filepath.Join(dir, "etcd-peer.sock")
	if strings.Contains(dir, ",") {
		// etcd splits its URL lists on commas, so a socket path with one
		// comes out as two broken URLs.
		return nil, fmt.Errorf("data directory %s has a comma in its path, which etcd's socket URLs cannot hold: choose another", dir)
	}
	if len(peerSock) > unixSocketMax {
		return nil, fmt.Errorf("data directory %s is too long for etcd's Unix sockets (at most %d characters for %s)", dir, unixSocketMax, peerSock)
	}
	// Stale sockets from a process that was killed would make listen fail.
	os.Remove(clientSock)
	os.Remove(peerSock)

	cfg := embed.NewConfig()
	cfg.Name = "berth"
	cfg.Dir = filepath.Join(dir, "etcd")
	clientURL := url.URL{Scheme: "unix", Path: clientSock}
	peerURL := url.URL{Scheme: "unix", Path: peerSock}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// One member on local sockets: no network to ride out, so short raft
	// timers only make the first election (a start, a restart) quick; with
	// etcd's defaults (100 ms ticks, 1 s election) it took 0.6 s.
	cfg.TickMs = 20
	cfg.ElectionMs = 200
	// Keep an hour of history for watchers that fall behind; older revisions
	// are compacted so the database does not grow without bound.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	cfg.LogLevel = "warn"
	logOpts := collect(opts)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logOpts.zapLogger())

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd did not become ready within 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Embedded{etcd: e, clientURL: clientURL.String(), closing: logOpts.closing}, nil
}

// Endpoints are the client URLs of the embedded server.
func (e *Embedded) Endpoints() []string { return []string{e.clientURL} }

// Close stops etcd; everything acknowledged before is on disk.
func (e *Embedded) Close() {
	e.closing.Store(true)
	e.etcd.Close()
}

// Dial connects a client to etcd endpoints (the embedded server's or an
// external cluster's). The client logs its warnings and errors through
// WithLog's logger (slog.Default() without it).
func Dial(ctx context.Context, endpoints []string, opts ...Option) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 10 * time.Second,
		Context:     ctx,
		Logger:      collect(opts).zapLogger(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	// Fail early and clearly when nothing answers at those endpoints.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Get(sctx, "/berth-ping"); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd at %v does not answer: %w", endpoints, err)
	}
	return cli, nil
}
