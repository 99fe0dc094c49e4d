package daemon

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
)

// The API listener's connections are capped below the process's open-file
// limit. Without a cap, enough idle connections take every descriptor, and
// the next file the embedded etcd opens (it lists its WAL directory every
// 30 s) fails, on which etcd exits the whole process. With the cap, the
// connections past it wait in the kernel's accept queue, costing the
// process nothing, until one closes (an idle connection is closed after
// the read-header timeout, 10 s).
//
// Every connection counts, agents' ACS and TCS websockets too (two per
// container instance): each holds a descriptor like any other, and agents
// authenticate before they upgrade, so only the cluster's own instances
// hold them for long.

// fdReserve is what the cap leaves for everything else: the embedded etcd
// (its WAL and snapshot files, bbolt, its sockets and gRPC connections),
// the Docker Engine's connections under berth dev, the etcd client, the
// runtime's own. An idle server holds about 25; a quarter of the limit,
// and at least 128, leaves room to spare.
func fdReserve(limit int) int { return max(128, limit/4) }

// DefaultMaxConnections is the cap for this process's open-file limit
// (RLIMIT_NOFILE, as the Go runtime raised it at start): the limit less
// fdReserve, and never less than half the limit. 4096 when the limit
// cannot be read.
func DefaultMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 4096
	}
	return maxConnectionsFor(int(min(rl.Cur, 1<<30)))
}

func maxConnectionsFor(fdLimit int) int {
	return max(fdLimit-fdReserve(fdLimit), fdLimit/2)
}

// cappedListener reports the connections it holds and says in the log
// when it is full (x/net's LimitListener does the limiting).
type cappedListener struct {
	net.Listener
	max  int
	open atomic.Int64
	log  *slog.Logger
}

// limitConnections caps ln at n connections (DefaultMaxConnections() when
// n is zero, no cap when it is negative).
func limitConnections(ln net.Listener, n int, log *slog.Logger) (net.Listener, *cappedListener) {
	if n == 0 {
		n = DefaultMaxConnections()
	}
	c := &cappedListener{max: n, log: log}
	if n < 0 {
		c.Listener = ln
		return c, c
	}
	c.Listener = netutil.LimitListener(ln, n)
	return c, c
}

func (l *cappedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if open := l.open.Add(1); l.max > 0 && open >= int64(l.max) {
		l.log.Warn("API connections at their cap: new connections wait until one closes", "maxConnections", l.max)
	}
	return &countedConn{Conn: conn, release: func() { l.open.Add(-1) }}, nil
}

func (l *cappedListener) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "berth_api_connections",
			Help: "Connections open on the API listener, agents' websockets included.",
		}, func() float64 { return float64(l.open.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "berth_api_connections_max",
			Help: "The cap on the API listener's connections (--max-connections); -1 without a cap.",
		}, func() float64 { return float64(max(l.max, -1)) }),
	}
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
