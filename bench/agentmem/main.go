// Command agentmem measures the resident memory of an idle agent: `berth
// agent` (the one binary) and berth-agent (the agent alone), each registered
// with a `berth server` and connected, after a minute with nothing to do.
//
//	go run ./bench/agentmem -bin bin
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/api/auth"
)

func main() {
	binDir := flag.String("bin", "bin", "directory with berth and berth-agent")
	idle := flag.Duration("idle", time.Minute, "how long the agents idle before the reading")
	flag.Parse()
	dir, err := os.MkdirTemp("", "berth-agentmem-")
	must(err)
	defer os.RemoveAll(dir)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	addr := l.Addr().String()
	l.Close()
	server := start(filepath.Join(*binDir, "berth"), "server", "--listen", addr, "--data-dir", filepath.Join(dir, "etcd"), "--throttle", "off")
	defer stop(server)
	endpoint := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(endpoint + "/healthz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("berth server did not start")
		}
	}
	c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, "")})
	_, err = c.CreateCluster(context.Background(), &ecs.CreateClusterInput{})
	must(err)

	agents := map[string]*exec.Cmd{
		"berth agent": start(filepath.Join(*binDir, "berth"), "agent", "--server", endpoint, "--data-dir", filepath.Join(dir, "a1")),
		"berth-agent": start(filepath.Join(*binDir, "berth-agent"), "--server", endpoint, "--data-dir", filepath.Join(dir, "a2")),
	}
	for _, a := range agents {
		defer stop(a)
	}
	time.Sleep(*idle)
	fmt.Printf("idle for %s, registered and connected (ACS and TCS)\n\n| binary | resident memory (VmRSS) |\n|---|---:|\n", *idle)
	for _, name := range []string{"berth agent", "berth-agent"} {
		fmt.Printf("| `%s` | %s |\n", name, rss(agents[name].Process.Pid))
	}
}

func start(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	must(cmd.Start())
	return cmd
}

func stop(cmd *exec.Cmd) { cmd.Process.Kill(); cmd.Wait() }

func rss(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	must(err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
