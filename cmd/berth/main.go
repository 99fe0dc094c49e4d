// Command berth is Amazon ECS on your own machines. This file only parses
// subcommands and flags; the work happens in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/lograte"
	"github.com/berth-project/berth/internal/server"
)

const usage = `berth: Amazon ECS, self-hosted.

Usage:
  berth dev [flags]      the control plane and an agent for this machine's Docker, in one process
  berth server [flags]   run the control plane (ECS API, agent endpoints, state in etcd)
  berth agent [flags]    run tasks on this machine's Docker Engine for a control plane
  berth simulate [flags] a fleet of simulated container instances that run no containers

Run 'berth <command> -h' for its flags. Every flag can also be set through the
environment variable named in its help.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "agent":
		err = runAgent(os.Args[2:])
	case "dev":
		err = runDev(os.Args[2:])
	case "simulate":
		err = runSimulate(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "berth: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

// envDefault returns the environment's value for name, or def.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// envDuration returns the environment's duration for name, or def when it
// is unset.
func envDuration(name string, def time.Duration) (time.Duration, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return d, nil
}

func runServer(args []string) error {
	fs := flag.NewFlagSet("berth server", flag.ContinueOnError)
	listen := fs.String("listen", envDefault("BERTH_LISTEN", daemon.DefaultListen), "address to serve the ECS API on (BERTH_LISTEN)")
	dataDir := fs.String("data-dir", envDefault("BERTH_DATA_DIR", daemon.DefaultDataDir()), "directory of the embedded etcd (BERTH_DATA_DIR)")
	etcd := fs.String("etcd-endpoints", envDefault("BERTH_ETCD_ENDPOINTS", ""), "comma-separated URLs of an external etcd cluster; empty runs etcd embedded (BERTH_ETCD_ENDPOINTS)")
	creds := fs.String("credentials-file", envDefault("BERTH_CREDENTIALS_FILE", ""), "file of extra access keys and their accounts (BERTH_CREDENTIALS_FILE)")
	sealKeys := fs.String("seal-keys-file", envDefault("BERTH_SEAL_KEYS_FILE", ""), "keyring that encrypts values at rest (SSM parameters), one \"<id> <base64 key>\" a line, the first sealing; servers sharing an etcd need the same keys; default: seal.keys in the data directory, made at first start; BERTH_SEAL_KEYS may give the keys themselves (BERTH_SEAL_KEYS_FILE)")
	agentEndpoint := fs.String("agent-endpoint", envDefault("BERTH_AGENT_ENDPOINT", ""), "base URL agents are told to connect to, e.g. http://10.0.0.5:8450; default: the host they called (BERTH_AGENT_ENDPOINT)")
	lostDefault, err := envDuration("BERTH_AGENT_LOST_AFTER", daemon.DefaultAgentLostAfter)
	if err != nil {
		return err
	}
	agentLost := fs.Duration("agent-lost-after", lostDefault, "how long an instance's agent may stay disconnected before its tasks are recorded STOPPED and services replace theirs (BERTH_AGENT_LOST_AFTER)")
	logFormat := fs.String("log-format", envDefault("BERTH_LOG_FORMAT", "text"), "log format: text or json (BERTH_LOG_FORMAT)")
	debugListen := fs.String("debug-listen", envDefault("BERTH_DEBUG_LISTEN", ""), "address to serve Go's /debug/pprof profiles on, e.g. 127.0.0.1:6060; empty: off (BERTH_DEBUG_LISTEN)")
	emulate := fs.Bool("emulate", os.Getenv("BERTH_EMULATE") == "true", emulateUsage)
	shared, err := addDaemonFlags(fs)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *agentLost <= 0 {
		return errors.New("--agent-lost-after must be a positive duration, e.g. 5m")
	}
	log, err := newLogger(*logFormat)
	if err != nil {
		return err
	}
	if *debugListen != "" {
		if err := serveProfiles(*debugListen, log); err != nil {
			return err
		}
	}
	var endpoints []string
	for _, e := range strings.Split(*etcd, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}

	if *emulate && !dataDirGiven(fs) {
		*dataDir = "" // an emulator starts empty, in a temporary directory
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := daemon.Config{
		Listen: *listen, DataDir: *dataDir, EtcdEndpoints: endpoints, CredentialsFile: *creds, AgentEndpoint: *agentEndpoint, SealKeysFile: *sealKeys,
		AgentLostAfter: *agentLost, Emulate: *emulate, Log: log,
	}
	if err := shared.apply(&cfg); err != nil {
		return err
	}
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-d.Done():
		log.Error("server stopped", "err", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Stop(shutdown)
}

// newLogger is the process's log, rate-limited (internal/lograte) so that
// a record repeated many times becomes a few lines and a count.
func newLogger(format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return lograte.Wrap(slog.New(slog.NewTextHandler(os.Stderr, nil))), nil
	case "json":
		return lograte.Wrap(slog.New(slog.NewJSONHandler(os.Stderr, nil))), nil
	}
	return nil, errors.New("--log-format must be text or json")
}

var (
	quotaUsage    = "a service quota, as name=value (repeatable); ECS's defaults otherwise. Quotas: " + strings.Join(server.QuotaNames(), ", ")
	throttleUsage = "per-account request throttling (repeatable): off, ecs (ECS's rates, the default except with --emulate, where it is off), or category=rate/burst (calls per second / at most at once), or category=0 for no limit; \"all\" sets every category; ECS's rates otherwise. Categories: " + strings.Join(server.ThrottleGroups(), ", ")
)

const emulateUsage = "emulator mode, for tests of code that drives ECS (BERTH_EMULATE=true): instances registered without an agent are served by in-process simulated agents, the state is empty in a temporary directory unless --data-dir is given, and POST /_berth/reset clears it"

const tenantMetricsUsage = "put the container metrics agents report on /metrics, labelled with account, cluster, task and container (BERTH_TENANT_METRICS=true); /metrics takes no credentials, so these names are then visible to whoever reaches it"

// dataDirGiven: --data-dir or BERTH_DATA_DIR was set.
func dataDirGiven(fs *flag.FlagSet) bool {
	given := os.Getenv("BERTH_DATA_DIR") != ""
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "data-dir" })
	return given
}
