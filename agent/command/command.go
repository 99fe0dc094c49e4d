// Package command is `berth agent`'s command line, shared by the berth
// binary and by berth-agent, the agent alone: on a machine that only runs
// tasks, berth-agent leaves out the control plane's code (etcd and the rest),
// which halves the agent's resident memory.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/berth-project/berth/agent"
	"github.com/berth-project/berth/internal/lograte"
)

// Run parses the agent's flags (args without the command name) and runs it
// until SIGINT or SIGTERM.
func Run(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	server := fs.String("server", envDefault("BERTH_SERVER", "http://127.0.0.1:8450"), "URL of the Berth control plane (BERTH_SERVER)")
	cluster := fs.String("cluster", envDefault("BERTH_CLUSTER", "default"), "cluster to join (BERTH_CLUSTER); Fargate capacity joins every cluster (*) unless one is given")
	region := fs.String("region", envDefault("AWS_REGION", envDefault("AWS_DEFAULT_REGION", "us-east-1")), "region to sign for (AWS_REGION)")
	dataDir := fs.String("data-dir", envDefault("BERTH_AGENT_DATA_DIR", filepath.Join(home(), ".berth", "agent")), "where the agent keeps its registration (BERTH_AGENT_DATA_DIR)")
	zone := fs.String("availability-zone", envDefault("BERTH_AVAILABILITY_ZONE", ""), "the instance's ecs.availability-zone attribute (BERTH_AVAILABILITY_ZONE)")
	attrs := fs.String("attributes", envDefault("BERTH_ATTRIBUTES", ""), "custom attributes, name=value,... (BERTH_ATTRIBUTES)")
	reserved := fs.Int("reserved-memory", 256, "MiB of memory kept back from tasks")
	metadataPort := fs.Int("metadata-port", 0, "port of the task metadata endpoint on the docker0 address; 0 keeps the last run's, or takes a random one")
	capacity := fs.String("capacity", envDefault("BERTH_CAPACITY", "EC2"), "the kind of capacity the host offers: EC2 (EC2 tasks), EXTERNAL (EXTERNAL tasks, as ECS Anywhere) or FARGATE (FARGATE and FARGATE_SPOT tasks, hidden from the instance lists) (BERTH_CAPACITY)")
	fargate := fs.Bool("fargate", false, "offer the host as Fargate capacity: --capacity FARGATE")
	logFormat := fs.String("log-format", envDefault("BERTH_LOG_FORMAT", "text"), "log format: text or json (BERTH_LOG_FORMAT)")
	credFlags := AddCredentialFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var log *slog.Logger
	switch *logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	case "json":
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	default:
		return errors.New("--log-format must be text or json")
	}
	log = lograte.Wrap(log) // a record repeated many times becomes a few lines and a count
	custom, err := ParseAttributes(*attrs)
	if err != nil {
		return err
	}
	kind, err := agent.ParseCapacity(*capacity)
	if err != nil {
		return err
	}
	if *fargate {
		kind = agent.CapacityFargate
	}
	clusterGiven := false
	fs.Visit(func(f *flag.Flag) { clusterGiven = clusterGiven || f.Name == "cluster" })
	if kind == agent.CapacityFargate && !clusterGiven && os.Getenv("BERTH_CLUSTER") == "" {
		*cluster = agent.AllClusters // Fargate serves every cluster, as in ECS
	}
	log.Info("offering capacity", "kind", kind, "cluster", *cluster)
	creds, source, err := credFlags.Resolve(os.Getenv)
	if err != nil {
		return err
	}
	log.Info("signing requests", "accessKeyId", creds.AccessKeyID, "from", source)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := agent.Run
	if kind == agent.CapacityFargate {
		run = agent.RunFargate
	}
	return run(ctx, agent.Config{
		Server: *server, Cluster: *cluster, Region: *region, Credentials: creds,
		DataDir: *dataDir, AvailabilityZone: *zone, Attributes: custom, ReservedMemory: *reserved, Capacity: kind, Log: log,
		MetadataPort: *metadataPort,
	})
}

// ParseAttributes reads name=value,... into a map.
func ParseAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--attributes: %q is not name=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func home() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return "."
	}
	return h
}

// envDefault returns the environment's value for name, or def.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
