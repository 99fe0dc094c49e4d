// Package agent is `berth agent`: it registers this machine as a container
// instance, holds the ACS and TCS sessions the control plane offers, and
// runs the tasks it is sent on the local Docker Engine. It speaks the same
// protocol as the stock amazon-ecs-agent, over the ECS API for everything
// that is a call (registration, state reports).
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/agent/docker"
	"github.com/berth-project/berth/agent/engine"
)

// Version is what the agent reports as its agentVersion.
const Version = "berth-1.0.0"

// Config is how `berth agent` is told where and what it is.
type Config struct {
	Server           string // base URL of the ECS API, e.g. http://127.0.0.1:8450
	Cluster          string
	Region           string
	Credentials      aws.Credentials
	DataDir          string            // keeps the container instance ARN across restarts
	AvailabilityZone string            // the ecs.availability-zone attribute
	Attributes       map[string]string // custom attributes
	ReservedMemory   int               // MiB kept back from tasks
	// Capacity is the kind of capacity the host offers: EC2 (the default)
	// for EC2 tasks, EXTERNAL for EXTERNAL tasks (as ECS Anywhere), or
	// FARGATE for FARGATE and FARGATE_SPOT tasks (see capacity.go).
	Capacity string
	// MetadataPort is the task metadata endpoint's port; 0 keeps the one
	// of the last run, or takes a random one the first time.
	MetadataPort int
	Log          *slog.Logger
	// Ready, when set, is called once the instance is registered.
	Ready func(instanceARN string)
}

// Agent is a running agent.
type Agent struct {
	cfg      Config
	api      *ecs.Client
	rt       *docker.Runtime
	engine   *engine.Engine
	instance string // container instance ARN
	log      *slog.Logger
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	rt, err := docker.New(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	a := &Agent{cfg: cfg, rt: rt, log: cfg.Log}
	a.api = ecs.New(ecs.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Server),
		Credentials:  credentials.StaticCredentialsProvider{Value: cfg.Credentials},
	})
	if err := a.register(ctx, rt.Version(ctx)); err != nil {
		return err
	}
	a.engine = engine.New(rt, cfg.Cluster, a.instance, a.submit, cfg.Log)
	if err := a.startMetadata(ctx, rt, a.engine); err != nil {
		return err
	}
	// Containers of an earlier run come first: they are adopted, never started again.
	if err := a.engine.Adopt(ctx); err != nil {
		return fmt.Errorf("find the containers of earlier runs: %w", err)
	}
	if cfg.Ready != nil {
		cfg.Ready(a.instance)
	}
	go a.engine.Run(ctx)
	go a.telemetry(ctx)
	a.control(ctx)
	return nil
}

// state is what the agent keeps on disk between runs.
type state struct {
	Cluster              string `json:"cluster"`
	ContainerInstanceARN string `json:"containerInstanceArn"`
}

func (a *Agent) statePath() string { return filepath.Join(a.cfg.DataDir, "agent.json") }

func (a *Agent) loadState() state {
	var st state
	if b, err := os.ReadFile(a.statePath()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	if st.Cluster != a.cfg.Cluster {
		return state{} // registered elsewhere before: start afresh here
	}
	return st
}

func (a *Agent) saveState(st state) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	tmp := a.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.statePath())
}

// register registers the machine, again with its ARN after a restart, and
// retries while the control plane is unreachable.
func (a *Agent) register(ctx context.Context, dockerVersion string) error {
	st := a.loadState()
	in := &ecs.RegisterContainerInstanceInput{
		Cluster:        aws.String(a.cfg.Cluster),
		TotalResources: resources(a.cfg.ReservedMemory),
		Attributes:     attributes(a.cfg),
		VersionInfo:    &types.VersionInfo{AgentVersion: aws.String(Version), DockerVersion: aws.String("DockerVersion: " + dockerVersion)},
	}
	if st.ContainerInstanceARN != "" {
		in.ContainerInstanceArn = aws.String(st.ContainerInstanceARN)
	}
	for backoff := 250 * time.Millisecond; ; backoff = min(backoff*2, 30*time.Second) {
		out, err := a.api.RegisterContainerInstance(ctx, in)
		if err == nil {
			a.instance = aws.ToString(out.ContainerInstance.ContainerInstanceArn)
			a.log.Info("registered", "cluster", a.cfg.Cluster, "containerInstance", a.instance, "capacity", capacityOf(a.cfg))
			return a.saveState(state{Cluster: a.cfg.Cluster, ContainerInstanceARN: a.instance})
		}
		if final(err) && in.ContainerInstanceArn != nil {
			// The control plane does not know the old instance (a fresh
			// store, say): register as a new one. Only on such an answer,
			// never on one that may pass (a 5xx, throttling): the agent
			// adopts only the containers of its own instance, and a new
			// one would leave every running container behind.
			in.ContainerInstanceArn = nil
			continue
		}
		a.log.Warn("registration failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}
