// Command placement measures task placement end to end: a real `berth
// server` process (embedded etcd), a simulated fleet speaking the agent
// protocol over websockets (package simulate, in this process), and
// SigV4-signed RunTask calls over HTTP from concurrent callers. A task
// counts as placed when its agent has reported it RUNNING and the server
// has taken the report.
//
// For each fleet size and strategy it prints placements per second, RunTask
// latency, the server's memory and the server's CPU time per placement, so
// the cost of a placement can be compared across fleet sizes in one run.
//
//	go run ./bench/placement -berth ./bin/berth -sizes 1000,10000 -tasks-per-instance 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/scheduler"
	"github.com/berth-project/berth/internal/simulate"
)

func main() {
	berth := flag.String("berth", "./bin/berth", "berth binary")
	sizes := flag.String("sizes", "1000,10000", "fleet sizes to measure")
	perInstance := flag.Int("tasks-per-instance", 10, "tasks to place per instance of the fleet")
	strategies := flag.String("strategies", "binpack,spread", "placement strategies to measure")
	callers := flag.Int("callers", 32, "concurrent RunTask callers")
	noTelemetry := flag.Bool("no-telemetry", false, "simulated instances hold ACS sessions only, no TCS (for fleets whose websockets exceed the open-file limit)")
	endToEnd := flag.Bool("e2e", true, "run the end-to-end measurement (false: only the in-process scheduler floor)")
	flag.Parse()

	raiseFileLimit(1 << 18) // two websockets per simulated instance, on both ends
	fmt.Println("| instances | strategy | tasks placed | placements/s (to RUNNING) | RunTask p50 | RunTask p99 | server CPU per placement | fleet+callers CPU per placement | server RSS after | server peak RSS | registration |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, sz := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(sz))
		if err != nil {
			log.Fatalf("-sizes: %v", err)
		}
		for _, st := range strings.Split(*strategies, ",") {
			if !*endToEnd {
				continue
			}
			r, err := measure(*berth, n, n**perInstance, strings.TrimSpace(st), *callers, *noTelemetry)
			if err != nil {
				log.Fatalf("%d instances, %s: %v", n, st, err)
			}
			fmt.Printf("| %d | %s | %d | %.0f | %s | %s | %s | %s | %d MiB | %d MiB | %s |\n", n, st, r.placed, r.perSecond,
				r.p50, r.p99, r.cpuPerPlacement.Round(time.Microsecond), r.clientCPUPerPlacement.Round(time.Microsecond),
				r.rss>>20, r.peakRSS>>20, r.registration.Round(time.Millisecond))
		}
	}
	printFloor(*sizes, *strategies, *perInstance)
}

// printFloor runs the scheduler alone, in this process, on candidates like
// the fleet's: the same tasks in batches of 60 (the placer's batch), with no
// API, no store and no agents. It is the ceiling the end-to-end rows are
// measured against.
func printFloor(sizes, strategies string, perInstance int) {
	fmt.Println()
	fmt.Println("| instances | strategy | floor: scheduler.Place alone, placements/s |")
	fmt.Println("|---:|---|---:|")
	for _, sz := range strings.Split(sizes, ",") {
		n, _ := strconv.Atoi(strings.TrimSpace(sz))
		for _, st := range strings.Split(strategies, ",") {
			st = strings.TrimSpace(st)
			var strat []scheduler.Strategy
			for _, ps := range placementStrategy(st) {
				strat = append(strat, scheduler.Strategy{Type: scheduler.StrategyType(ps.Type), Field: aws.ToString(ps.Field)})
			}
			zones := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
			pool := make([]*scheduler.Candidate, n)
			for i := range pool {
				pool[i] = &scheduler.Candidate{ID: strconv.Itoa(i), ARN: strconv.Itoa(i), Status: "ACTIVE", AgentConnected: true,
					CPU: 4096, Memory: 8192, DynamicPortsFree: 28232, Groups: map[string]int{},
					Attributes: map[string]string{"ecs.availability-zone": zones[i%3], "ecs.os-type": "linux"}}
			}
			d := &scheduler.Demand{CPU: 32, Memory: 128, Group: "family:unit", Strategies: strat}
			rng := rand.New(rand.NewPCG(1, 2))
			total, start := 0, time.Now()
			for total < n*perInstance {
				// Each pass gets fresh shallow copies, as the placer gives it.
				cands := make([]*scheduler.Candidate, n)
				for i, c := range pool {
					cp := *c
					cands[i] = &cp
				}
				res := scheduler.Place(cands, d, min(60, n*perInstance-total), rng)
				if len(res.Placed) == 0 {
					break
				}
				for i, c := range cands { // keep what the pass took, as the store would
					if c.Placed > 0 {
						*pool[i] = *c
						pool[i].Placed = 0
					}
				}
				total += len(res.Placed)
			}
			fmt.Printf("| %d | %s | %.0f |\n", n, st, float64(total)/time.Since(start).Seconds())
		}
	}
}

type result struct {
	placed                    int
	perSecond                 float64
	p50, p99                  time.Duration
	cpuPerPlacement           time.Duration
	clientCPUPerPlacement     time.Duration
	rss, peakRSS              int64
	registration              time.Duration
	failedCalls, failureTasks int
}

func placementStrategy(name string) []types.PlacementStrategy {
	switch name {
	case "binpack":
		return []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}}
	case "spread":
		return []types.PlacementStrategy{
			{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")},
			{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")},
		}
	case "random":
		return []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}
	}
	log.Fatalf("unknown strategy %q", name)
	return nil
}

func measure(berth string, instances, tasks int, strategy string, callers int, noTelemetry bool) (*result, error) {
	ctx := context.Background()
	srv, err := startServer(berth)
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = callers * 2
	api := ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.endpoint), HTTPClient: &http.Client{Transport: transport},
		Credentials: credentials.NewStaticCredentialsProvider(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, ""),
	})
	if _, err := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bench")}); err != nil {
		return nil, err
	}
	if _, err := api.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("unit"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("busybox:latest"), Cpu: 32, Memory: aws.Int32(128),
		}},
	}); err != nil {
		return nil, err
	}

	regStart := time.Now()
	fleet, err := simulate.Start(ctx, simulate.Config{
		Server: srv.endpoint, Cluster: "bench", Region: "us-east-1",
		Credentials: aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey},
		Instances:   instances, CPU: 4096, Memory: 8192, Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		Parallel: 32, NoTelemetry: noTelemetry, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("simulated fleet: %w", err)
	}
	defer fleet.Close()
	registration := time.Since(regStart)

	cpuBefore, selfBefore := srv.cpuTime(), cpuTimeOf("self")
	var left atomic.Int64
	left.Store(int64(tasks))
	var placed, failureTasks, failedCalls atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	strat := placementStrategy(strategy)
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				n := min(10, left.Add(-10)+10)
				if n <= 0 {
					break
				}
				t0 := time.Now()
				out, err := api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("bench"), TaskDefinition: aws.String("unit"),
					Count: aws.Int32(int32(n)), PlacementStrategy: strat})
				mine = append(mine, time.Since(t0))
				if err != nil {
					failedCalls.Add(1)
					log.Printf("RunTask: %v", err)
					continue
				}
				placed.Add(int64(len(out.Tasks)))
				if len(out.Tasks) < int(n) {
					failureTasks.Add(n - int64(len(out.Tasks)))
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := int(placed.Load())
	for running, _ := fleet.Reported(); running < want; running, _ = fleet.Reported() {
		if time.Since(start) > 30*time.Minute {
			return nil, fmt.Errorf("only %d of %d tasks reported RUNNING after 30 minutes", running, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu, self := srv.cpuTime()-cpuBefore, cpuTimeOf("self")-selfBefore
	rss, peak := srv.memory()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	r := &result{
		placed: want, perSecond: float64(want) / elapsed.Seconds(),
		p50: pct(latencies, 50).Round(time.Microsecond * 10), p99: pct(latencies, 99).Round(time.Microsecond * 10),
		rss: rss, peakRSS: peak, registration: registration,
		failedCalls: int(failedCalls.Load()), failureTasks: int(failureTasks.Load()),
	}
	if want > 0 {
		r.cpuPerPlacement = cpu / time.Duration(want)
		r.clientCPUPerPlacement = self / time.Duration(want)
	}
	if r.failedCalls > 0 || r.failureTasks > 0 {
		log.Printf("%d instances, %s: %d calls failed, %d tasks not placed", instances, strategy, r.failedCalls, r.failureTasks)
	}
	return r, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

// serverProcess is a `berth server` child with its own data directory.
type serverProcess struct {
	cmd      *exec.Cmd
	dir      string
	endpoint string
}

func startServer(bin string) (*serverProcess, error) {
	dir, err := os.MkdirTemp("", "berth-bench-placement-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	// Throttling off: the bench measures Berth, not ECS's rate limits.
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--throttle", "off")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serverProcess{cmd: cmd, dir: dir, endpoint: "http://" + addr}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.endpoint + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, errors.New("berth server did not become healthy; see " + logf.Name())
}

func (s *serverProcess) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

// cpuTime is the user and system CPU time the server has used so far.
func (s *serverProcess) cpuTime() time.Duration { return cpuTimeOf(strconv.Itoa(s.cmd.Process.Pid)) }

// cpuTimeOf reads a process's user and system CPU time from /proc.
func cpuTimeOf(pid string) time.Duration {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th of them, in clock ticks (100 per second).
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// memory is the server's resident set now and at its peak.
func (s *serverProcess) memory() (rss, peak int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				rss = kb << 10
			case "VmHWM:":
				peak = kb << 10
			}
		}
	}
	return rss, peak
}

// raiseFileLimit lifts this process's open-file limit (children inherit
// it): a fleet of 10,000 holds 20,000 websockets here and as many in the
// server. Raising the hard limit needs root; otherwise the soft one goes
// as high as the hard one allows.
func raiseFileLimit(n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := syscall.Rlimit{Cur: max(n, lim.Cur), Max: max(n, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		log.Printf("open-file limit stays at %d (raising it needs root): large fleets may run out", lim.Max)
	}
}
