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

	"github.com/berth-project/berth/agent/command"
	"github.com/berth-project/berth/internal/lograte"
	"github.com/berth-project/berth/internal/simulate"
)

// runSimulate is `berth simulate`: a fleet of container instances that
// speak the agent protocol and run no containers, for tests and benchmarks
// of scale.
func runSimulate(args []string) error {
	fs := flag.NewFlagSet("berth simulate", flag.ContinueOnError)
	server := fs.String("server", envDefault("BERTH_SERVER", "http://127.0.0.1:8450"), "URL of the Berth control plane (BERTH_SERVER)")
	cluster := fs.String("cluster", envDefault("BERTH_CLUSTER", "default"), "cluster the instances join (BERTH_CLUSTER)")
	region := fs.String("region", envDefault("AWS_REGION", envDefault("AWS_DEFAULT_REGION", "us-east-1")), "region to sign for (AWS_REGION)")
	instances := fs.Int("instances", 10, "number of simulated container instances")
	cpu := fs.Int("cpu", 2048, "CPU units of each instance")
	memory := fs.Int("memory", 4096, "memory of each instance, in MiB")
	zones := fs.String("zones", "", "availability zones the instances cycle through, a,b,c")
	attrs := fs.String("attributes", "", "custom attributes of every instance, name=value,...")
	parallel := fs.Int("parallel", 16, "registrations and state reports in flight at once")
	credFlags := command.AddCredentialFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	creds, _, err := credFlags.Resolve(os.Getenv)
	if err != nil {
		return err
	}
	if *instances < 1 {
		return errors.New("--instances must be at least 1")
	}
	custom, err := command.ParseAttributes(*attrs)
	if err != nil {
		return err
	}
	var zoneList []string
	for _, z := range strings.Split(*zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			zoneList = append(zoneList, z)
		}
	}
	log := lograte.Wrap(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	f, err := simulate.Start(ctx, simulate.Config{
		Server: *server, Cluster: *cluster, Region: *region, Credentials: creds,
		Instances: *instances, CPU: *cpu, Memory: *memory, Zones: zoneList, Attributes: custom, Parallel: *parallel, Log: log,
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d simulated instances registered and connected to cluster %s in %s; Ctrl-C to stop\n", *instances, *cluster, time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	f.Close()
	return nil
}
