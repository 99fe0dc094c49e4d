package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/server"
	"github.com/berth-project/berth/internal/state"
)

// maxConnectionsFlag defines --max-connections on fs, its default taken
// from the open-file limit so that -h shows the number in effect.
func maxConnectionsFlag(fs *flag.FlagSet) (*int, error) {
	def := daemon.DefaultMaxConnections()
	if v, ok := os.LookupEnv("BERTH_MAX_CONNECTIONS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("BERTH_MAX_CONNECTIONS: %q is not a number", v)
		}
		def = n
	}
	return fs.Int("max-connections", def, "most connections the API listener holds open at once, agents' websockets included; "+
		"more wait to be accepted. The default leaves a quarter of the open-file limit (RLIMIT_NOFILE), at least 128 descriptors, "+
		"to etcd and the rest; 0 or less: no cap (BERTH_MAX_CONNECTIONS)"), nil
}

// maxConnections maps the flag to daemon.Config, where zero is the default
// and a negative number no cap.
func maxConnections(flagValue int) int {
	if flagValue <= 0 {
		return -1
	}
	return flagValue
}

// daemonFlags are the flags `berth server` and `berth dev` share for what
// bounds and shapes the control plane: quotas, throttling, tenant metrics,
// the awsvpc address pool and the connection cap.
type daemonFlags struct {
	quotas        server.Quotas
	throttling    server.Throttling
	tenantMetrics *bool
	awsvpcPool    func() (state.AddressPool, error)
	maxConns      *int
}

// addDaemonFlags adds them to fs.
func addDaemonFlags(fs *flag.FlagSet) (*daemonFlags, error) {
	f := &daemonFlags{}
	fs.Var(&f.quotas, "quota", quotaUsage)
	fs.Var(&f.throttling, "throttle", throttleUsage)
	f.tenantMetrics = fs.Bool("tenant-metrics", os.Getenv("BERTH_TENANT_METRICS") == "true", tenantMetricsUsage)
	f.awsvpcPool = awsvpcFlags(fs)
	var err error
	f.maxConns, err = maxConnectionsFlag(fs)
	return f, err
}

// apply sets them in cfg, once fs is parsed.
func (f *daemonFlags) apply(cfg *daemon.Config) error {
	pool, err := f.awsvpcPool()
	if err != nil {
		return err
	}
	cfg.Quotas, cfg.Throttling, cfg.TenantMetrics = f.quotas, f.throttling, *f.tenantMetrics
	cfg.MaxConnections, cfg.AwsvpcPool = maxConnections(*f.maxConns), pool
	return nil
}
