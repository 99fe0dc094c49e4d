// Package metadata is the agent's task metadata endpoint: the
// ECS_CONTAINER_METADATA_URI_V4 (and v3) documents and stats a container
// reads about itself and its task, in ECS's shapes. ECS serves them at
// 169.254.170.2; Berth serves them on an address of its own that its
// containers reach (the host's docker0 address), on a port kept in the data
// directory, so that several agents share one Engine and a restarted agent
// answers the URIs its running containers were given. The id in each URI is
// an HMAC of the task ARN and container name under a key kept beside the
// port: unguessable, and the same after a restart without a record per
// container.
package metadata

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"

	"github.com/berth-project/berth/agent/docker"
)

// Task is what the endpoint tells of a task: the engine's view of it, in
// plain fields (the engine fills it; this package knows nothing of its
// state machine).
type Task struct {
	ARN, Cluster, Family, Revision  string
	DesiredStatus, KnownStatus      string
	AvailabilityZone, LaunchType    string
	NetworkMode, ServiceName, Group string
	CPU                             *float64 // vCPU, as the task definition's cpu / 1024
	Memory                          *int64   // MiB
	PullStartedAt, PullStoppedAt    time.Time
	ExecutionStoppedAt              time.Time
	Interface                       *Interface // an awsvpc task's network interface
	Containers                      []Container
}

// Interface is an awsvpc task's network interface, as its payload names it.
type Interface struct {
	Address, MAC, SubnetCIDR, Gateway, PrivateDNSName string
}

// Container is one container of a task.
type Container struct {
	Name, DockerID, DockerName, Image string
	DesiredStatus, KnownStatus        string
	ExitCode                          *int
	CPU                               float64 // CPU shares
	Memory                            int64   // MiB, 0 for none
	CreatedAt, StartedAt, FinishedAt  time.Time
	Labels                            map[string]string
	Ports                             []Port
	ContainerARN                      string
}

// Port is one of a bridge container's port bindings.
type Port struct {
	ContainerPort, HostPort int
	Protocol, HostIP        string
}

// Source is what the endpoint reads tasks from: the task engine.
type Source interface {
	Tasks() []Task
}

// Docker is what the endpoint reads from the Engine itself.
type Docker interface {
	ContainerDetails(ctx context.Context, id string) (docker.Details, error)
	Stats(ctx context.Context, id string) (json.RawMessage, error)
}

// Config is how the endpoint is set up.
type Config struct {
	DataDir  string     // keeps the port and the id key across restarts
	Address  netip.Addr // where it listens and what the URIs name
	Port     int        // 0: the one kept in DataDir, or a random one the first time
	Region   string     // AWS_REGION and AWS_DEFAULT_REGION
	Capacity string     // EC2, EXTERNAL or FARGATE: AWS_EXECUTION_ENV
	// AvailabilityZone is the task document's, for a task whose payload
	// names none.
	AvailabilityZone string
	Log              *slog.Logger
}

// Server is a listening endpoint.
type Server struct {
	cfg  Config
	key  []byte
	ln   net.Listener
	base string // http://address:port
}

// stored is the endpoint's file in the data directory.
type stored struct {
	Port int    `json:"port"`
	Key  string `json:"key"` // hex
}

func (c Config) path() string { return filepath.Join(c.DataDir, "metadata.json") }

// Open listens on the configured address, on the port of the last run when
// there is one (its containers still hold URIs naming it).
func Open(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var st stored
	if b, err := os.ReadFile(cfg.path()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	key, err := hex.DecodeString(st.Key)
	if err != nil || len(key) < 32 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	port := cfg.Port
	if port == 0 {
		port = st.Port
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(cfg.Address, uint16(port)).String())
	if err != nil && port != 0 && cfg.Port == 0 {
		// Something else took the port: the containers of the last run
		// lose their endpoint, new ones get a working one.
		cfg.Log.Warn("the task metadata endpoint's port of the last run is taken; containers started before it lose their endpoint", "port", port, "err", err)
		ln, err = net.Listen("tcp", netip.AddrPortFrom(cfg.Address, 0).String())
	}
	if err != nil {
		return nil, fmt.Errorf("task metadata endpoint: %w", err)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	if err := save(cfg, stored{Port: bound, Key: hex.EncodeToString(key)}); err != nil {
		ln.Close()
		return nil, err
	}
	return &Server{cfg: cfg, key: key, ln: ln,
		base: "http://" + net.JoinHostPort(cfg.Address.String(), strconv.Itoa(bound))}, nil
}

func save(cfg Config, st stored) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	tmp := cfg.path() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, cfg.path())
}

// URL is where the endpoint answers, http://address:port.
func (s *Server) URL() string { return s.base }

// ID is a container's id in its URIs.
func (s *Server) ID(taskARN, container string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(taskARN))
	m.Write([]byte{0})
	m.Write([]byte(container))
	return hex.EncodeToString(m.Sum(nil))[:40]
}

// Environment is what the agent sets in a container of the task: the
// metadata URIs (always), and the region and execution environment
// (where the task sets none; see docker.Placement).
func (s *Server) Environment(t *acsmsg.Task, container string) (always, defaults map[string]string) {
	id := s.ID(ecs.Val(t.Arn), container)
	always = map[string]string{
		"ECS_CONTAINER_METADATA_URI_V4": s.base + "/v4/" + id,
		"ECS_CONTAINER_METADATA_URI":    s.base + "/v3/" + id,
	}
	defaults = map[string]string{"AWS_EXECUTION_ENV": executionEnv(s.cfg.Capacity)}
	if s.cfg.Region != "" {
		// As the stock agent: a container that names either keeps what it set.
		if !setsRegion(t, container) {
			defaults["AWS_REGION"], defaults["AWS_DEFAULT_REGION"] = s.cfg.Region, s.cfg.Region
		}
	}
	return always, defaults
}

func setsRegion(t *acsmsg.Task, container string) bool {
	for _, c := range t.Containers {
		if ecs.Val(c.Name) != container {
			continue
		}
		_, region := c.Environment["AWS_REGION"]
		_, defaultRegion := c.Environment["AWS_DEFAULT_REGION"]
		return region || defaultRegion
	}
	return false
}

func executionEnv(capacity string) string {
	switch capacity {
	case "FARGATE":
		return "AWS_ECS_FARGATE"
	case "EXTERNAL":
		return "AWS_ECS_EXTERNAL"
	}
	return "AWS_ECS_EC2"
}

// Serve answers requests until ctx ends.
func (s *Server) Serve(ctx context.Context, src Source, dk Docker) error {
	srv := &http.Server{
		Handler:           &handler{s: s, src: src, dk: dk},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops listening (Serve returns).
func (s *Server) Close() error { return s.ln.Close() }
