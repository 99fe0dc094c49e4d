// Package daemon assembles a running Berth control plane: it starts or
// connects to etcd, opens the store, and serves the ECS API, /healthz and
// /metrics on one listener. cmd/berth only parses flags and calls it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-project/berth/internal/controller/gc"
	"github.com/berth-project/berth/internal/controller/instances"
	"github.com/berth-project/berth/internal/controller/service"

	"github.com/berth-project/berth/internal/placement"

	"github.com/berth-project/berth/internal/state"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/awsjson"
	"github.com/berth-project/berth/api/ecs"
	apissm "github.com/berth-project/berth/api/ssm"
	"github.com/berth-project/berth/internal/acs"
	"github.com/berth-project/berth/internal/controller"
	"github.com/berth-project/berth/internal/lograte"
	"github.com/berth-project/berth/internal/server"
	"github.com/berth-project/berth/internal/ssm"
	"github.com/berth-project/berth/internal/store"
)

// Config is what `berth server` is started with.
type Config struct {
	Listen          string        // host:port; loopback by default
	DataDir         string        // embedded etcd's home
	EtcdEndpoints   []string      // external etcd; empty means embedded
	CredentialsFile string        // optional: more keys and accounts
	SealKeysFile    string        // the keyring of values at rest; empty: BERTH_SEAL_KEYS, else seal.keys in DataDir (sealkeys.go)
	AgentEndpoint   string        // base URL agents are told to connect to; empty: the Host they called
	AgentLostAfter  time.Duration // how long an agent may be gone before its tasks are recorded STOPPED; instances.DefaultAgentLostAfter when zero
	// Emulate runs the emulator mode (emulate.go): simulated agents for
	// instances without one, an empty temporary state unless DataDir is
	// set, and POST /_berth/reset.
	Emulate bool
	Getenv  func(string) string
	Log     *slog.Logger
	// ReadTimeout is how long a client may take to send a whole request
	// (20 s when zero); tests shorten it.
	ReadTimeout time.Duration
	// Quotas and Throttling bound what each account may store and how
	// fast it may call; their zero values are ECS's defaults.
	Quotas     server.Quotas
	Throttling server.Throttling
	// TenantMetrics puts the container metrics agents report on /metrics,
	// labelled with account, cluster, task and container: tenants'
	// identifiers on an endpoint without credentials, so only on request.
	TenantMetrics bool
	// MaxConnections caps the API listener's open connections (agents'
	// websockets included): DefaultMaxConnections() when zero, no cap when
	// negative. See connlimit.go.
	MaxConnections int
	// AwsvpcPool is where awsvpc subnets get their address ranges, and
	// the subnets pinned to ranges of their own (state.DefaultAwsvpcPool
	// when its Pool is unset).
	AwsvpcPool state.AddressPool
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// DefaultAgentLostAfter is how long an agent may be gone before its tasks
// are recorded STOPPED (and services replace theirs).
const DefaultAgentLostAfter = instances.DefaultAgentLostAfter

// DefaultListen is loopback only: Berth is not exposed unless asked to be.
const DefaultListen = "127.0.0.1:8450"

// electionKey is where servers sharing an etcd elect the one that runs the
// controllers; outside state.Root, so the view never holds it.
const electionKey = "/berth/leader"

// DefaultDataDir is ~/.berth/data, or ./berth-data without a home directory.
func DefaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "berth-data"
	}
	return filepath.Join(home, ".berth", "data")
}

// Daemon is a running control plane.
type Daemon struct {
	cfg           Config
	listener      net.Listener
	http          *http.Server
	ready         atomic.Bool
	closers       []func()
	served        chan error
	agents        *acs.Endpoints
	etcdEndpoints []string // where the state lives, embedded or not
	etcd          *clientv3.Client
	store         *store.Store
}

// Start listens, brings up etcd and the store, and serves until Stop. The
// listener comes up first so /healthz can say "not ready" while etcd starts.
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = lograte.Wrap(cfg.Log) // one broken agent or service cannot flood the log
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if err := cfg.AwsvpcPool.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.DataDir == "" && !cfg.Emulate {
		cfg.DataDir = DefaultDataDir()
	}
	keys, err := loadKeyring(cfg)
	if err != nil {
		return nil, err
	}

	d := &Daemon{cfg: cfg, served: make(chan error, 1)}
	if d.cfg.DataDir == "" {
		if err := d.emulatorDataDir(); err != nil {
			return nil, err
		}
		cfg = d.cfg
	}
	sealKeys, err := loadSealKeys(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ln, capped := limitConnections(ln, cfg.MaxConnections, cfg.Log)
	d.listener = ln
	mux := http.NewServeMux()
	// Timeouts like an AWS front end's: a client gets 20 s to send a
	// request (bodies are at most 1 MiB) and 60 s for its answer to go out;
	// an idle keep-alive connection is closed after 60 s. The websockets at
	// /acs/ws and /tcs/ws are hijacked, and gorilla/websocket clears the
	// connection's deadlines when it upgrades, so their sessions are not
	// bound by these (they keep their own per-write deadline and heartbeats).
	readTimeout := orDuration(cfg.ReadTimeout, 20*time.Second)
	d.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: min(10*time.Second, readTimeout),
		ReadTimeout:       readTimeout,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10, // SigV4 headers are a few KiB
		// Accept errors (at the open-file limit, many a second) go through
		// the rate-limited log like everything else.
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	apiHandler := &atomic.Pointer[http.Handler]{}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "starting\n", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	registry.MustRegister(capped.collectors()...)
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	agentEndpoints := &atomic.Pointer[acs.Endpoints]{}
	serveAgent := func(w http.ResponseWriter, r *http.Request) {
		e := agentEndpoints.Load()
		if e == nil {
			http.Error(w, "starting\n", http.StatusServiceUnavailable)
			return
		}
		e.ServeHTTP(w, r)
	}
	mux.HandleFunc("POST /_berth/reset", d.serveReset)
	mux.HandleFunc("GET /acs/ws", serveAgent)
	mux.HandleFunc("GET /tcs/ws", serveAgent)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := apiHandler.Load()
		if h == nil {
			w.Header().Set("Content-Type", awsjson.ContentType)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"__type":"ServerException","message":"Berth is starting. Please try again shortly."}`)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	go func() { d.served <- d.http.Serve(ln) }()

	st, err := d.openStore(ctx)
	if err != nil {
		d.Stop(context.Background())
		return nil, err
	}
	records := state.New(st, cfg.Log)
	placer := placement.New(records, nil).WithAddressPool(cfg.AwsvpcPool)
	opts := server.Options{Log: cfg.Log, AgentEndpoint: cfg.AgentEndpoint, Quotas: cfg.Quotas, Throttling: cfg.Throttling}
	if cfg.Emulate {
		opts.UnreportedCPU, opts.UnreportedMemory = EmulatedCPU, EmulatedMemory
		opts.AwaitAgent = emulatedAgentWait
		if !cfg.Throttling.Off && cfg.Throttling.Limits == nil {
			// Test suites create clusters and task definitions far faster
			// than ECS's 1 a second; `--throttle ecs` asks for ECS's rates.
			opts.Throttling.Off = true
		}
	}
	srv := server.New(records, placer, opts)
	services := service.New(records, placer, service.Options{Log: cfg.Log})
	health := instances.New(records, instances.Options{Log: cfg.Log, AgentLostAfter: cfg.AgentLostAfter})
	collector := gc.New(records, gc.Options{Log: cfg.Log})
	metrics := newAPIMetrics(registry)
	// Each service on the endpoint wants signatures scoped to its own name.
	authenticate := func(service string) awsjson.Authenticator {
		return func(r *http.Request, body []byte) (context.Context, error) {
			caller, err := keys.VerifyFor(r, body, time.Now(), service)
			if err != nil {
				return nil, err
			}
			return server.WithRequestHost(auth.WithCaller(r.Context(), caller), r.Host), nil
		}
	}
	parameters := ssm.New(records, sealKeys, cfg.Log)
	var h http.Handler = awsjson.Router{
		{TargetPrefix: ecs.TargetPrefix, Dispatch: srv.Dispatch, Authenticate: authenticate("ecs"), Log: cfg.Log, Observe: metrics.observe},
		// SSM's calls are not in the ECS API metrics, whose operation
		// label is ECS's operations.
		{TargetPrefix: apissm.TargetPrefix, Dispatch: parameters.Dispatch, Authenticate: authenticate("ssm"), Log: cfg.Log},
	}
	var taskMetrics *acs.TaskMetrics // nil: agents' metrics are acknowledged and dropped
	if cfg.TenantMetrics {
		taskMetrics = acs.NewTaskMetrics()
		registry.MustRegister(taskMetrics)
	}
	droppedReports := acs.NewDroppedReports()
	registry.MustRegister(droppedReports)
	backend := acs.NewStateBackend(records, nil, cfg.Log)
	// Closed after the sessions (Stop ends them first) and before the etcd
	// client: the liveness lease is revoked, not left to expire.
	d.closers = append(d.closers, backend.Close)
	agents := &acs.Endpoints{
		Metrics:      taskMetrics,
		Dropped:      droppedReports,
		Backend:      backend,
		Authenticate: func(r *http.Request) (auth.Caller, error) { return keys.Verify(r, nil, time.Now()) },
		Log:          cfg.Log,
	}
	d.agents = agents
	agentEndpoints.Store(agents)
	loops := []func(context.Context) time.Duration{collector.Reconcile, health.Reconcile, services.Reconcile}
	if cfg.Emulate {
		loops = append(loops, d.emulatedAgents(records, keys).Reconcile)
	}
	d.runControllers(loops, cfg.Log)
	apiHandler.Store(&h)
	d.ready.Store(true)
	cfg.Log.Info("berth server ready", "listen", ln.Addr().String(), "dataDir", cfg.DataDir, "etcd", describeEtcd(cfg), "emulate", cfg.Emulate)
	return d, nil
}

// runControllers runs the controllers' passes (the garbage collector, the
// instances controller, the service scheduler and, in emulator mode, the
// emulated agents), each in its own level-triggered loop, while this
// server leads.
func (d *Daemon) runControllers(loops []func(context.Context) time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.closers = append(d.closers, func() { cancel(); <-done })
	id := fmt.Sprintf("%s/%d", d.listener.Addr(), os.Getpid())
	go func() {
		defer close(done)
		controller.RunAsLeader(ctx, d.etcd, electionKey, id, log, func(ctx context.Context) {
			var wg sync.WaitGroup
			for _, reconcile := range loops {
				wg.Go(func() { controller.Loop(ctx, d.store.Changed, reconcile) })
			}
			wg.Wait()
		})
	}()
}

func (d *Daemon) openStore(ctx context.Context) (*store.Store, error) {
	endpoints := d.cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		e, err := store.StartEmbedded(ctx, d.cfg.DataDir, store.WithLog(d.cfg.Log))
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, e.Close)
		endpoints = e.Endpoints()
	}
	d.etcdEndpoints = endpoints
	cli, err := store.Dial(ctx, endpoints, store.WithLog(d.cfg.Log))
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { cli.Close() })
	d.etcd = cli
	st, err := store.Open(ctx, cli, state.Root, d.cfg.Log)
	if err != nil {
		return nil, err
	}
	d.store = st
	d.closers = append(d.closers, st.Close)
	return st, nil
}

// EtcdEndpoints are the client URLs of the etcd the daemon keeps its state
// in: another daemon given them shares that state.
func (d *Daemon) EtcdEndpoints() []string { return d.etcdEndpoints }

// Addr is the address the API listens on (useful with port 0).
func (d *Daemon) Addr() string { return d.listener.Addr().String() }

// Done is closed with the HTTP server's error if it stops on its own.
func (d *Daemon) Done() <-chan error { return d.served }

// Stop stops serving, lets requests in flight finish (until ctx ends), and
// closes the store and etcd in reverse order of opening.
func (d *Daemon) Stop(ctx context.Context) error {
	d.ready.Store(false)
	err := d.http.Shutdown(ctx)
	if d.agents != nil {
		d.agents.Shutdown() // websocket sessions are hijacked: Shutdown leaves them open
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func loadKeyring(cfg Config) (*auth.Keyring, error) {
	keys, err := auth.KeyringFromEnv(cfg.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.CredentialsFile == "" {
		return keys, nil
	}
	creds, err := auth.LoadCredentialsFile(cfg.CredentialsFile)
	if err != nil {
		return nil, err
	}
	return keys.With(creds...)
}

func describeEtcd(cfg Config) string {
	if len(cfg.EtcdEndpoints) == 0 {
		return "embedded"
	}
	return fmt.Sprint(cfg.EtcdEndpoints)
}
