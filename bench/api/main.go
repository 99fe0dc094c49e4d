// Command api measures the ECS API of a real `berth server` process over
// loopback: SigV4-signed requests at concurrency 1 and 16 for
// DescribeClusters, DescribeTaskDefinition and RegisterTaskDefinition. Beside
// each it measures the floor the same client reaches on the same machine in
// the same run: a bare Go HTTP server answering a fixed body (reads), and raw
// etcd transactions on an embedded etcd (registrations).
//
//	go run ./bench/api -server bin/berth
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/store"
)

func main() {
	bin := flag.String("server", "bin/berth", "path of the berth binary to measure")
	duration := flag.Duration("duration", 5*time.Second, "how long each case runs")
	flag.Parse()

	ctx := context.Background()
	endpoint, stop := startBerth(*bin)
	defer stop()

	c := &client{endpoint: endpoint, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	c.must("CreateCluster", `{"clusterName":"bench"}`)
	c.must("RegisterTaskDefinition", taskDef)

	floor := startFloor()
	fc := &client{endpoint: floor, http: c.http}
	etcdFloor, closeEtcd := startEtcdFloor(ctx)
	defer closeEtcd()

	fmt.Printf("machine: %d CPUs (%s/%s), %s; each case %s\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), *duration)
	fmt.Println("| case | concurrency | requests/s | p50 | p99 | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, conc := range []int{1, 16} {
		report("DescribeClusters", conc, run(*duration, conc, func() error {
			return c.call("DescribeClusters", `{"clusters":["bench"]}`)
		}))
		report("DescribeTaskDefinition", conc, run(*duration, conc, func() error {
			return c.call("DescribeTaskDefinition", `{"taskDefinition":"bench"}`)
		}))
		report("floor: bare Go HTTP server, signed request, fixed answer", conc, run(*duration, conc, func() error {
			return fc.call("DescribeClusters", `{"clusters":["bench"]}`)
		}))
		report("RegisterTaskDefinition", conc, run(*duration, conc, func() error {
			return c.call("RegisterTaskDefinition", taskDef)
		}))
		var n atomic.Int64
		report("floor: raw etcd transaction (embedded etcd, 2 KiB put)", conc, run(*duration, conc, func() error {
			key := fmt.Sprintf("/floor/%d", n.Add(1))
			_, err := etcdFloor.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, string(bytes.Repeat([]byte("x"), 2048)))).Commit()
			return err
		}))
	}
}

const taskDef = `{"family":"bench","containerDefinitions":[{"name":"app","image":"busybox","memory":128,"cpu":128,
"essential":true,"portMappings":[{"containerPort":8080}],"environment":[{"name":"A","value":"1"}]}]}`

type result struct {
	n, errors int
	elapsed   time.Duration
	latencies []time.Duration
}

// run calls f from conc goroutines for d and collects every latency.
func run(d time.Duration, conc int, f func() error) result {
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := f(); err != nil {
					errs++
					if errs == 1 {
						log.Printf("error: %v", err)
					}
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.latencies)
	return res
}

func report(name string, conc int, r result) {
	slices.Sort(r.latencies)
	q := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	fmt.Printf("| %s | %d | %.0f | %s | %s | %d |\n", name, conc, float64(r.n)/r.elapsed.Seconds(),
		q(0.50).Round(time.Microsecond), q(0.99).Round(time.Microsecond), r.errors)
}

// client sends SigV4-signed ECS requests, as the SDKs do, with the
// development key pair.
type client struct {
	endpoint string
	http     *http.Client
}

var signer = v4.NewSigner()
var creds = aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}

func (c *client) call(op, body string) error {
	req, _ := http.NewRequest(http.MethodPost, c.endpoint+"/", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	if err := signer.SignHTTP(context.Background(), creds, req, hash, "ecs", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", op, resp.StatusCode, b)
	}
	return nil
}

func (c *client) must(op, body string) {
	if err := c.call(op, body); err != nil {
		log.Fatal(err)
	}
}

func startBerth(bin string) (string, func()) {
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		log.Fatal(err)
	}
	addr := freeAddr()
	// Throttling off: the bench measures Berth, not ECS's rate limits.
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--log-format", "json", "--throttle", "off")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	endpoint := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(endpoint + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if i > 600 {
			log.Fatal("berth server did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return endpoint, func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
}

// startFloor serves a fixed DescribeClusters-sized answer without looking at
// the request: what HTTP on loopback costs this client at most.
func startFloor() string {
	answer := []byte(`{"clusters":[{"clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/bench","clusterName":"bench","status":"ACTIVE","registeredContainerInstancesCount":0,"runningTasksCount":0,"pendingTasksCount":0,"activeServicesCount":0,"statistics":[],"tags":[],"settings":[],"capacityProviders":[],"defaultCapacityProviderStrategy":[]}],"failures":[]}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write(answer)
	}))
	return "http://" + ln.Addr().String()
}

func startEtcdFloor(ctx context.Context) (*clientv3.Client, func()) {
	dir, err := os.MkdirTemp("", "berth-bench-etcd-")
	if err != nil {
		log.Fatal(err)
	}
	e, err := store.StartEmbedded(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	cli, err := store.Dial(ctx, e.Endpoints())
	if err != nil {
		log.Fatal(err)
	}
	return cli, func() { cli.Close(); e.Close(); os.RemoveAll(dir) }
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("model name")) {
			if _, v, ok := bytes.Cut(line, []byte(":")); ok {
				return string(bytes.TrimSpace(v))
			}
		}
	}
	return "unknown CPU"
}
