// Command sdkrace measures how often an aws-sdk-go-v2 client fails a call to
// Berth with "use of closed network connection" (aws/aws-sdk-go-v2 #1825,
// #2737). It starts a `berth server` on a free loopback port with a fresh
// data directory, registers a task definition whose DescribeTaskDefinition
// answer is about -size bytes, and makes -n calls one after another with the
// SDK's retries off, counting the failures by their error text.
//
// It is its own module so that it can be built against any SDK release
// without touching the main module: go.mod pins the old release (core
// v1.24.1, service/ecs v1.36.0, smithy-go v1.19.0, of 2024-01-04), and
// current.mod the release the main module uses, as the control:
//
//	go build -o bin/berth ./cmd/berth
//	cd bench/sdkrace
//	go run . -server ../../bin/berth                      # old SDK
//	go run -modfile=current.mod . -server ../../bin/berth # current SDK
//
// -attempts 0 uses the SDK's default retryer instead; -size and -random
// shape the answer; -variant serves Berth's own answer bytes from a child
// process that writes them another way (variants.go), to try server-side
// changes without rebuilding Berth; -trace records, for each failed call, how
// net/http's write of the request ended and which goroutine closed the
// connection; -own-body and -client-read-buffer are client-side controls.
// Every run is bounded by -n and -max-time, and every server it starts or
// calls is on loopback. docs/BENCHMARKS.md has the measurements.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The development key pair every `berth server` accepts unless told otherwise
// (api/auth: DefaultAccessKeyID, DefaultSecretAccessKey). Repeated here: this
// module does not import the main one.
const (
	accessKeyID     = "AKIABERTHDEVLOCAL000"
	secretAccessKey = "berth-dev-secret-access-key-do-not-use"
)

func main() {
	bin := flag.String("server", "", "path of the berth binary to start (or -endpoint)")
	endpoint := flag.String("endpoint", "", "URL of a Berth already running on loopback, instead of -server")
	n := flag.Int("n", 5000, "calls to make")
	maxTime := flag.Duration("max-time", 3*time.Minute, "stop after this long even if -n calls are not made")
	size := flag.Int("size", 8192, "approximate size in bytes of the DescribeTaskDefinition answer")
	random := flag.Bool("random", false, "random environment values (an answer that compresses as little as real ones do), not repeated letters")
	attempts := flag.Int("attempts", 1, "SDK attempts per call: 1 is retries off; 0 is the SDK's default retryer")
	conc := flag.Int("concurrency", 1, "calls in flight at once")
	ownBody := flag.Bool("own-body", false, "client-side control: hand net/http a copy of each request body, so the SDK's early Close of its own does not reach the transport")
	readBuffer := flag.Int("client-read-buffer", 0, "the SDK transport's ReadBufferSize; 0 is net/http's default, 4 KiB")
	trace := flag.Bool("trace", false, "print who closed the connection of each failed call")
	variant := flag.String("variant", "berth", "the server to call: berth, or a way of writing Berth's answer: "+variantNames())
	childVariant := flag.String("child-variant", "", "(internal) serve this variant")
	childAnswer := flag.String("child-answer", "", "(internal) file of the answer to serve")
	childListen := flag.String("child-listen", "", "(internal) loopback address to serve on")
	flag.Parse()
	if *childVariant != "" {
		if !strings.HasPrefix(*childListen, "127.0.0.1:") {
			log.Fatal("-child-listen must be on 127.0.0.1")
		}
		serveVariant(*childVariant, *childAnswer, *childListen)
		return
	}
	if *n <= 0 || *n > 100000 || *conc <= 0 || *conc > 64 {
		log.Fatal("-n must be 1..100000 and -concurrency 1..64")
	}

	url := *endpoint
	if url != "" && !isLoopback(url) {
		log.Fatal("-endpoint must be a loopback address (127.0.0.1, [::1] or localhost)")
	}
	stopBerth := func() {}
	if url == "" {
		if *bin == "" {
			log.Fatal("give -server (a berth binary) or -endpoint")
		}
		url, stopBerth = startBerth(*bin)
	}
	atExit(func() { stopBerth() })
	defer runAtExit()

	ctx := context.Background()
	family := fmt.Sprintf("sdkrace-%d-%t", *size, *random)
	registerLarge(ctx, newClient(url, 1, &connTracer{}), family, *size, *random)
	answer := captureAnswer(url, family)
	if *variant != "berth" {
		if _, ok := variants[*variant]; !ok {
			fatalf("unknown -variant %q (known: %s)", *variant, variantNames())
		}
		stopBerth()
		stopBerth = func() {}
		var stopVariant func()
		url, stopVariant = startVariant(*variant, answer)
		atExit(stopVariant)
	}

	tracer := &connTracer{}
	clientReadBuffer = *readBuffer
	clientOwnBody = *ownBody
	client := newClient(url, *attempts, tracer)
	fmt.Printf("machine: %d CPUs (%s/%s), %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("sdk: %s\n", sdkVersions())
	fmt.Printf("server: %s: %s\n", *variant, variants[*variant])
	if *variant == "gzip" {
		fmt.Printf("gzip: the answer is %d bytes compressed\n", len(gzipped(answer)))
	}
	fmt.Printf("call: DescribeTaskDefinition, answer %d bytes, %d calls, concurrency %d, attempts %d, client read buffer %d\n", len(answer), *n, *conc, *attempts, max(*readBuffer, 4096))

	var (
		mu        sync.Mutex
		byText    = map[string]int{}
		traces    = map[string]int{}
		done      atomic.Int64
		failures  atomic.Int64
		latencies []time.Duration
	)
	deadline := time.Now().Add(*maxTime)
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) && time.Now().Before(deadline) {
				cctx := withCallTrace(ctx)
				t0 := time.Now()
				_, err := client.DescribeTaskDefinition(cctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)})
				took := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, took)
				mu.Unlock()
				done.Add(1)
				if err == nil {
					continue
				}
				failures.Add(1)
				mu.Lock()
				byText[classify(err)]++
				if *trace {
					traces[callTraceOf(cctx).describe()]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	total := done.Load()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))].Round(time.Microsecond)
	}
	fmt.Printf("result: %d calls in %s (p50 %s, p99 %s), %d failed (%.2f%%), %d connections dialed\n",
		total, elapsed.Round(time.Millisecond), pct(0.5), pct(0.99), failures.Load(), 100*float64(failures.Load())/float64(max(total, 1)), tracer.dialed.Load())
	for _, k := range sortedKeys(byText) {
		fmt.Printf("  %6d  %s\n", byText[k], k)
	}
	if *trace {
		for _, k := range sortedKeys(traces) {
			fmt.Printf("--- %d failed calls:\n%s\n", traces[k], k)
		}
	}
}

var exits []func()

// atExit has f run when the program ends, by fatalf too: the servers it
// started are stopped even when a measurement fails.
func atExit(f func()) { exits = append(exits, f) }

func runAtExit() {
	for i := len(exits) - 1; i >= 0; i-- {
		exits[i]()
	}
	exits = nil
}

func fatalf(format string, args ...any) {
	runAtExit()
	log.Fatalf(format, args...)
}

func isLoopback(raw string) bool {
	u, err := neturl.Parse(raw)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// clientReadBuffer and clientOwnBody are -client-read-buffer and -own-body,
// for the clients of the measurement.
var (
	clientReadBuffer int
	clientOwnBody    bool
)

// newClient is an ECS client for endpoint as a deploy tool builds one: the
// SDK's own HTTP client and transport, static keys, and the retryer asked for.
func newClient(endpoint string, attempts int, tracer *connTracer) *ecs.Client {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.ReadBufferSize = clientReadBuffer
		dial := t.DialContext
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return tracer.wrap(c), nil
		}
	})
	var doer ecs.HTTPClient = httpClient
	if clientOwnBody {
		doer = doFunc(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return nil, err
				}
				r = r.Clone(r.Context())
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			return httpClient.Do(r)
		})
	}
	return ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   doer,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey, Source: "sdkrace"}, nil
		}),
		RetryMaxAttempts: max(attempts, 0),
		Retryer:          retryer(attempts),
	})
}

func retryer(attempts int) aws.Retryer {
	if attempts == 1 {
		return aws.NopRetryer{}
	}
	return nil // the SDK's default (standard, 3 attempts, or RetryMaxAttempts)
}

// registerLarge registers family with enough environment variables that its
// DescribeTaskDefinition answer is about size bytes.
func registerLarge(ctx context.Context, c *ecs.Client, family string, size int, random bool) {
	var env []types.KeyValuePair
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; 700+i*60 < size; i++ {
		value := strings.Repeat("v", 20)
		if random {
			value = fmt.Sprintf("%016x%04x", rng.Uint64(), rng.Uint32()&0xffff)
		}
		env = append(env, types.KeyValuePair{
			Name:  aws.String(fmt.Sprintf("SDKRACE_VARIABLE_%04d", i)),
			Value: aws.String(value),
		})
	}
	_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:        aws.String("app"),
			Image:       aws.String("public.ecr.aws/docker/library/busybox:latest"),
			Memory:      aws.Int32(128),
			Essential:   aws.Bool(true),
			Environment: env,
		}},
	})
	if err != nil {
		fatalf("RegisterTaskDefinition: %v", err)
	}
}

// captureAnswer makes one DescribeTaskDefinition call and returns the body
// Berth answered, as it came off the wire.
func captureAnswer(endpoint, family string) []byte {
	var body []byte
	c := newClient(endpoint, 1, &connTracer{})
	_, err := c.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)},
		func(o *ecs.Options) {
			o.HTTPClient = doFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(r)
				if err != nil {
					return nil, err
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				resp.Body = io.NopCloser(bytes.NewReader(body))
				return resp, err
			})
		})
	if err != nil {
		fatalf("DescribeTaskDefinition: %v", err)
	}
	return body
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// classify shortens an SDK error to the part that names its cause.
func classify(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "use of closed network connection"):
		return "deserialization failed ... use of closed network connection"
	case strings.Contains(s, "connection reset"):
		return "connection reset by peer"
	case strings.Contains(s, "EOF"):
		return "EOF: " + s
	}
	return s
}

func sdkVersions() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	var parts []string
	for _, m := range info.Deps {
		switch m.Path {
		case "github.com/aws/aws-sdk-go-v2", "github.com/aws/aws-sdk-go-v2/service/ecs", "github.com/aws/smithy-go":
			parts = append(parts, strings.TrimPrefix(m.Path, "github.com/aws/")+" "+m.Version)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return keys
}

// startBerth runs `berth server` on a free loopback port with a fresh data
// directory and the development keys; it returns the endpoint and how to stop
// it.
func startBerth(bin string) (string, func()) {
	dir, err := os.MkdirTemp("", "berth-sdkrace-")
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// Throttling off: the bench measures Berth, not ECS's rate limits.
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--log-format", "json", "--throttle", "off")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	endpoint := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(endpoint + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return endpoint, stop
			}
		}
	}
	stop()
	log.Fatal("berth server did not become ready")
	return "", nil
}

// connTracer wraps the SDK's connections to see who closes them.
type connTracer struct {
	dialed atomic.Int64
}

type callTraceKey struct{}

// callTrace collects, for one call, the connections it used.
type callTrace struct {
	mu       sync.Mutex
	conns    []*tracedConn
	wroteErr []string // what writing each attempt's request ended with
}

// withCallTrace records, through net/http's client trace, the connection
// each attempt of the call was given.
func withCallTrace(ctx context.Context) context.Context {
	t := &callTrace{}
	ctx = context.WithValue(ctx, callTraceKey{}, t)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if tc, ok := info.Conn.(*tracedConn); ok {
				t.mu.Lock()
				t.conns = append(t.conns, tc)
				t.mu.Unlock()
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			t.mu.Lock()
			t.wroteErr = append(t.wroteErr, fmt.Sprintf("%v", info.Err))
			t.mu.Unlock()
		},
	})
}

func callTraceOf(ctx context.Context) *callTrace {
	t, _ := ctx.Value(callTraceKey{}).(*callTrace)
	return t
}

// describe reports, for the last attempt of the call, how the request write
// ended and who closed its connection.
func (t *callTrace) describe() string {
	if t == nil {
		return "no trace"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.conns) == 0 {
		return "no connection recorded"
	}
	c := t.conns[len(t.conns)-1]
	c.mu.Lock()
	defer c.mu.Unlock()
	wrote := "?"
	if len(t.wroteErr) > 0 {
		wrote = t.wroteErr[len(t.wroteErr)-1]
	}
	if c.closedBy == "" {
		return "request write ended with: " + wrote + "; connection not closed by the client"
	}
	return fmt.Sprintf("request write ended with: %s; connection closed by:\n%s", wrote, c.closedBy)
}

func (tr *connTracer) wrap(c net.Conn) net.Conn {
	tr.dialed.Add(1)
	return &tracedConn{Conn: c}
}

type tracedConn struct {
	net.Conn
	mu       sync.Mutex
	closedBy string
}

func (c *tracedConn) Close() error {
	c.mu.Lock()
	if c.closedBy == "" {
		c.closedBy = trimStack(string(debug.Stack()))
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// trimStack keeps the frames of net/http and the SDK, which say why.
func trimStack(s string) string {
	var out []string
	lines := strings.Split(s, "\n")
	for i := 0; i+1 < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "net/http.") || strings.HasPrefix(l, "github.com/aws/") {
			if i := strings.LastIndex(l, "("); i > 0 {
				l = l[:i] // the arguments: addresses that differ every time
			}
			out = append(out, "  "+l)
		}
	}
	return strings.Join(out, "\n")
}
