// Package simulate is `berth simulate`: a fleet of container instances that
// speak the real agent protocol and run nothing. Each registers through the
// ECS API, holds an ACS and a TCS session over signed websockets, reports
// RUNNING for every task it is sent and STOPPED for every task it is told
// to stop, as an agent with instant containers would. It exists for tests
// and benchmarks of scale, where Docker would be the bottleneck.
package simulate

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// AgentVersion is what simulated agents report.
const AgentVersion = "berth-simulated-1.0.0"

// Config describes a fleet.
type Config struct {
	Server      string // base URL of the ECS API
	Cluster     string
	Region      string
	Credentials aws.Credentials
	Instances   int
	CPU         int               // CPU units per instance
	Memory      int               // MiB per instance
	Zones       []string          // ecs.availability-zone cycles through them
	Attributes  map[string]string // custom attributes of every instance ("": a capability, no value)
	// Parallel bounds the registrations, and the state reports, in flight.
	Parallel int
	// Passive instances hold their sessions and acknowledge what they are
	// sent, but report nothing: for tests that make the reports themselves.
	Passive bool
	// NoTelemetry leaves out the TCS sessions, halving the connections a
	// fleet holds (for fleets larger than an open-file limit allows; TCS
	// plays no part in placement).
	NoTelemetry bool
	Log         *slog.Logger
}

// Fleet is a running simulated fleet.
type Fleet struct {
	cfg       Config
	api       *ecs.Client
	reports   chan report
	Instances []*Instance

	// Reports the server has taken, by status.
	reportedRunning, reportedStopped atomic.Int64

	wg     sync.WaitGroup
	runCtx context.Context // ends at Close
	cancel context.CancelFunc
}

// Start registers the fleet's instances and opens their sessions. It
// returns once every instance's ACS session is up, so tasks can be placed
// on all of them; the fleet then runs until Close.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 16
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Parallel * 2
	f := &Fleet{cfg: cfg, reports: make(chan report, 1024)}
	f.api = ecs.New(ecs.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Server),
		Credentials:  credentials.StaticCredentialsProvider{Value: cfg.Credentials},
		HTTPClient:   &http.Client{Transport: transport},
	})
	runCtx, cancel := context.WithCancel(context.Background())
	f.runCtx, f.cancel = runCtx, cancel
	for range cfg.Parallel {
		f.wg.Add(1)
		go f.reporter(runCtx)
	}

	// Register with bounded parallelism, then connect every instance.
	f.Instances = make([]*Instance, cfg.Instances)
	errs := make(chan error, cfg.Instances)
	sem := make(chan struct{}, cfg.Parallel)
	var reg sync.WaitGroup
	for i := range cfg.Instances {
		reg.Add(1)
		sem <- struct{}{}
		go func() {
			defer reg.Done()
			defer func() { <-sem }()
			arn, err := f.register(ctx, i)
			if err != nil {
				errs <- err
				return
			}
			f.Instances[i] = f.newInstance(arn, f.zone(i))
		}()
	}
	reg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		f.Close()
		return nil, err
	}
	if err := f.connect(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Attach runs a simulated agent for an instance registered elsewhere (a
// test's RegisterContainerInstance call): its sessions, and its reports.
func Attach(ctx context.Context, cfg Config, instanceARN string) (*Fleet, error) {
	cfg.Instances = 0
	f, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	f.Instances = []*Instance{f.newInstance(instanceARN, "")}
	if err := f.connect(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// connect opens every instance's sessions and waits until each ACS session
// is up.
func (f *Fleet) connect(ctx context.Context) error {
	acsURL, tcsURL, err := f.endpoints(ctx)
	if err != nil {
		return err
	}
	up := make(chan struct{}, len(f.Instances))
	for _, in := range f.Instances {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); in.holdACS(f.runCtx, acsURL, up) }()
		if !f.cfg.NoTelemetry {
			f.wg.Add(1)
			go func() { defer f.wg.Done(); in.holdTCS(f.runCtx, tcsURL) }()
		}
	}
	for range f.Instances {
		select {
		case <-up:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close ends every session.
func (f *Fleet) Close() {
	f.cancel()
	f.wg.Wait()
}

// Reported counts the state reports the server has taken: tasks reported
// RUNNING, and tasks reported STOPPED.
func (f *Fleet) Reported() (running, stopped int) {
	return int(f.reportedRunning.Load()), int(f.reportedStopped.Load())
}

// queue hands a report to the reporters, unless the fleet is closing.
func (f *Fleet) queue(r report) {
	select {
	case f.reports <- r:
	case <-f.runCtx.Done():
	}
}

func (f *Fleet) zone(i int) string {
	if len(f.cfg.Zones) == 0 {
		return ""
	}
	return f.cfg.Zones[i%len(f.cfg.Zones)]
}

// register registers instance i as the agent would on a fresh host.
func (f *Fleet) register(ctx context.Context, i int) (string, error) {
	attrs := []types.Attribute{
		{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
		{Name: aws.String("ecs.cpu-architecture"), Value: aws.String("x86_64")},
		{Name: aws.String("ecs.instance-type"), Value: aws.String("simulated")},
	}
	if z := f.zone(i); z != "" {
		attrs = append(attrs, types.Attribute{Name: aws.String("ecs.availability-zone"), Value: aws.String(z)})
	}
	for k, v := range f.cfg.Attributes {
		a := types.Attribute{Name: aws.String(k)}
		if v != "" { // "": a capability, which has no value (ECS drops an empty one)
			a.Value = aws.String(v)
		}
		attrs = append(attrs, a)
	}
	for _, c := range capabilities {
		attrs = append(attrs, types.Attribute{Name: aws.String(c)})
	}
	in := &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String(f.cfg.Cluster),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: int32(f.cfg.CPU)},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: int32(f.cfg.Memory)},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
		},
		Attributes:  attrs,
		VersionInfo: &types.VersionInfo{AgentVersion: aws.String(AgentVersion), DockerVersion: aws.String("DockerVersion: simulated")},
	}
	var err error
	for attempt := range 10 {
		var out *ecs.RegisterContainerInstanceOutput
		if out, err = f.api.RegisterContainerInstance(ctx, in); err == nil {
			return aws.ToString(out.ContainerInstance.ContainerInstanceArn), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("register simulated instance %d: %w", i, err)
}

func (f *Fleet) endpoints(ctx context.Context) (string, string, error) {
	out, err := f.api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String(f.cfg.Cluster)})
	if err != nil {
		return "", "", fmt.Errorf("discover the agent endpoints: %w", err)
	}
	return aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint), nil
}

// capabilities are what a simulated agent claims: those of `berth agent`,
// so any task definition Berth's own agent can run is placed here too.
var capabilities = []string{
	"com.amazonaws.ecs.capability.docker-remote-api.1.17", "com.amazonaws.ecs.capability.docker-remote-api.1.18",
	"com.amazonaws.ecs.capability.docker-remote-api.1.19", "com.amazonaws.ecs.capability.docker-remote-api.1.20",
	"com.amazonaws.ecs.capability.docker-remote-api.1.21", "com.amazonaws.ecs.capability.docker-remote-api.1.22",
	"com.amazonaws.ecs.capability.docker-remote-api.1.23", "com.amazonaws.ecs.capability.docker-remote-api.1.24",
	"com.amazonaws.ecs.capability.docker-remote-api.1.25",
	"com.amazonaws.ecs.capability.logging-driver.json-file", "com.amazonaws.ecs.capability.logging-driver.awslogs",
	"com.amazonaws.ecs.capability.logging-driver.none",
	"com.amazonaws.ecs.capability.task-iam-role", "com.amazonaws.ecs.capability.task-iam-role-network-host",
	"ecs.capability.container-health-check", "ecs.capability.container-ordering", "ecs.capability.execution-role-awslogs",
	"ecs.capability.task-eni", // awsvpc: it reports the task's interface ATTACHED and DETACHED
}

// report is a state change waiting to be submitted.
type report struct {
	cluster, task, status string
	containers            []string
	attachment            string // an awsvpc task's interface: ATTACHED before RUNNING, DETACHED after STOPPED
}

// reporter submits state changes, retrying each until it is taken.
func (f *Fleet) reporter(ctx context.Context) {
	defer f.wg.Done()
	for {
		var r report
		select {
		case <-ctx.Done():
			return
		case r = <-f.reports:
		}
		in := &ecs.SubmitTaskStateChangeInput{Cluster: aws.String(r.cluster), Task: aws.String(r.task), Status: aws.String(r.status)}
		now := time.Now()
		if r.status == "RUNNING" {
			in.PullStartedAt, in.PullStoppedAt = &now, &now
		} else {
			in.ExecutionStoppedAt = &now
		}
		for _, name := range r.containers {
			cs := types.ContainerStateChange{ContainerName: aws.String(name), Status: aws.String(r.status), RuntimeId: aws.String("simulated-" + strconv.Itoa(len(name)))}
			if r.status == "STOPPED" {
				cs.ExitCode = aws.Int32(0)
			}
			in.Containers = append(in.Containers, cs)
		}
		submitTask := func() error { _, err := f.api.SubmitTaskStateChange(ctx, in); return err }
		calls := []func() error{submitTask}
		if r.attachment != "" {
			status := "ATTACHED"
			if r.status == "STOPPED" {
				status = "DETACHED"
			}
			submitAttachment := func() error {
				_, err := f.api.SubmitAttachmentStateChanges(ctx, &ecs.SubmitAttachmentStateChangesInput{Cluster: aws.String(r.cluster),
					Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(r.attachment), Status: aws.String(status)}}})
				return err
			}
			if status == "ATTACHED" {
				calls = []func() error{submitAttachment, submitTask}
			} else {
				calls = append(calls, submitAttachment)
			}
		}
		for _, call := range calls {
			if !f.submit(ctx, r.task, call) {
				break
			}
		}
		if ctx.Err() == nil {
			if r.status == "RUNNING" {
				f.reportedRunning.Add(1)
			} else {
				f.reportedStopped.Add(1)
			}
		}
	}
}

// submit makes one call until the server takes it; false when the fleet
// closed first.
func (f *Fleet) submit(ctx context.Context, task string, call func() error) bool {
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		err := call()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		f.cfg.Log.Warn("simulated state report failed; retrying", "task", task, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
	}
}
