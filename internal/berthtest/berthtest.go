// Package berthtest starts real Berth servers for tests: the daemon on a
// loopback port with a real embedded etcd in a temporary directory, and the
// AWS SDK for Go v2 ECS client pointed at it with the development key pair.
package berthtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/server"
	"github.com/berth-project/berth/internal/simulate"
	"github.com/berth-project/berth/internal/state"
)

// Region is the region tests sign for.
const Region = "us-east-1"

// Server is a running Berth control plane for one test.
type Server struct {
	t       testing.TB
	DataDir string
	d       *daemon.Daemon
	getenv  func(string) string
}

// Option changes how a test server starts.
type Option func(*daemon.Config)

// WithEnv gives the server an environment of its own (for credentials).
func WithEnv(env map[string]string) Option {
	return func(c *daemon.Config) { c.Getenv = func(k string) string { return env[k] } }
}

// WithQuotas sets the service quotas (zero fields: ECS's).
func WithQuotas(q server.Quotas) Option {
	return func(c *daemon.Config) { c.Quotas = q }
}

// WithThrottling throttles calls as t says (the zero value: ECS's rates),
// where test servers otherwise do not throttle.
func WithThrottling(t server.Throttling) Option {
	return func(c *daemon.Config) { c.Throttling = t }
}

// WithAwsvpcPool sets where awsvpc subnets get their ranges, and pins.
func WithAwsvpcPool(p state.AddressPool) Option {
	return func(c *daemon.Config) { c.AwsvpcPool = p }
}

// WithCredentialsFile adds the keys of a credentials file.
func WithCredentialsFile(path string) Option {
	return func(c *daemon.Config) { c.CredentialsFile = path }
}

// Start runs a server on 127.0.0.1 with its own data directory; it stops
// when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: t.TempDir()}
	s.start(opts...)
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start(opts ...Option) {
	s.t.Helper()
	cfg := daemon.Config{
		Listen:  "127.0.0.1:0",
		DataDir: s.DataDir,
		Getenv:  func(string) string { return "" },
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Tests make many calls at once, faster than ECS's rates allow,
		// and their client retries nothing: throttling is for the tests
		// of it (WithThrottling).
		Throttling: server.Throttling{Off: true},
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		s.t.Fatalf("start berth server: %v", err)
	}
	s.d = d
}

// Stop stops the server cleanly (a no-op when already stopped).
func (s *Server) Stop() {
	if s.d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.d.Stop(ctx)
	s.d = nil
}

// Restart stops the server and starts it again on the same data directory
// (on a new port).
func (s *Server) Restart(opts ...Option) {
	s.t.Helper()
	s.Stop()
	s.start(opts...)
}

// Endpoint is the server's base URL.
func (s *Server) Endpoint() string { return "http://" + s.d.Addr() }

// Client is an ECS client signed with the development key pair.
func (s *Server) Client() *ecs.Client {
	return s.ClientFor(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, Region)
}

// ClientFor is an ECS client with the given key pair and region. It retries
// only the SDK's own connection race (ClosedConnRetryer), so each test sees
// each answer exactly as the server sent it.
func (s *Server) ClientFor(keyID, secret, region string) *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer:      ClosedConnRetryer(),
	})
}

// ClosedConnRetryer retries a call whose connection the client's own HTTP
// transport closed under it ("use of closed network connection", often
// after a 200 answer), and nothing else. That is a known race on the
// client side (aws/aws-sdk-go-v2 issues 1825 and 2737), which the SDK's
// default retryer retries since; tests otherwise retry nothing, so that
// every ECS error reaches them as sent.
func ClosedConnRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 10 * time.Millisecond, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(errors.Is(err, net.ErrClosed))
		})}
	})
}

// NeedTool returns the path of a command the test needs. Outside CI a
// missing tool skips the test; under CI=true it fails it, so a CI machine
// without the tool cannot pass by skipping.
func NeedTool(t testing.TB, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs %v, which is not installed (CI=true: failing instead of skipping)", candidates)
	}
	t.Skipf("this test needs %v, which is not installed", candidates)
	return ""
}

// WithAgentLostAfter sets how long an agent may be gone before services
// replace its tasks.
func WithAgentLostAfter(d time.Duration) Option {
	return func(c *daemon.Config) { c.AgentLostAfter = d }
}

// WithTenantMetrics puts agents' container metrics on /metrics.
func WithTenantMetrics() Option {
	return func(c *daemon.Config) { c.TenantMetrics = true }
}

// WithEtcdEndpoints makes the server use an external etcd instead of its own.
func WithEtcdEndpoints(endpoints []string) Option {
	return func(c *daemon.Config) { c.EtcdEndpoints = endpoints }
}

// Simulate starts a simulated fleet against the server (see package
// simulate), filling in the server, credentials and region; it stops when
// the test ends.
func (s *Server) Simulate(cfg simulate.Config) *simulate.Fleet {
	s.t.Helper()
	s.fillSimulation(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := simulate.Start(ctx, cfg)
	if err != nil {
		s.t.Fatalf("start simulated fleet: %v", err)
	}
	s.t.Cleanup(f.Close)
	return f
}

// Attach connects a simulated agent for an instance the test registered,
// so placement sees its agent connected. A passive agent reports nothing:
// the test makes the state reports itself.
func (s *Server) Attach(cluster, instanceARN string, passive bool) *simulate.Fleet {
	s.t.Helper()
	cfg := simulate.Config{Cluster: cluster, Passive: passive}
	s.fillSimulation(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := simulate.Attach(ctx, cfg, instanceARN)
	if err != nil {
		s.t.Fatalf("attach a simulated agent: %v", err)
	}
	s.t.Cleanup(f.Close)
	return f
}

func (s *Server) fillSimulation(cfg *simulate.Config) {
	cfg.Server = s.Endpoint()
	cfg.Region = Region
	cfg.Credentials = aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// EtcdEndpoints are the client URLs of the server's etcd: another server
// started WithEtcdEndpoints(them) shares its state.
func (s *Server) EtcdEndpoints() []string { return s.d.EtcdEndpoints() }
