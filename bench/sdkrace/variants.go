package main

// Server variants: ways a server could write the same answer, served by a
// child process (so that, as with Berth, client and server do not share a Go
// scheduler) on loopback. Each answers every request with the bytes Berth
// itself answered to the DescribeTaskDefinition of the run, after reading the
// request body, unless the variant says otherwise.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// variants maps a name to what it changes, for -variant and the report.
var variants = map[string]string{
	"berth":         "the real `berth server` (api/awsjson: Content-Length, one Write)",
	"nethttp":       "net/http like api/awsjson: Content-Length, one Write of the whole body",
	"chunked":       "no Content-Length: net/http sends the body chunked",
	"pieces":        "Content-Length, the body written in 512-byte pieces, flushed after each",
	"flush-headers": "Content-Length, the status line and headers flushed before the body is written",
	"one-write":     "hand-written HTTP/1.1: status line, headers and body in one write(2)",
	"nagle":         "net/http like api/awsjson on connections with TCP_NODELAY off",
	"close":         "net/http like api/awsjson plus Connection: close (one call per connection)",
	"unread-body":   "the answer written before the request body is read",
	"gzip":          "gzip (BestSpeed) when the request accepts it; Go's transport asks for it by default",
	"delay-100us":   "net/http like api/awsjson, after sleeping 100µs",
	"delay-1ms":     "net/http like api/awsjson, after sleeping 1ms",
}

func variantNames() string {
	names := make([]string, 0, len(variants))
	for k := range variants {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// startVariant runs this program again as the server of variant, answering
// answer; it returns the endpoint and how to stop it.
func startVariant(variant string, answer []byte) (string, func()) {
	f, err := os.CreateTemp("", "sdkrace-answer-")
	if err != nil {
		log.Fatal(err)
	}
	f.Write(answer)
	f.Close()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(self, "-child-variant", variant, "-child-answer", f.Name(), "-child-listen", addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The child stops when its standard input ends: when this process does,
	// however it ends.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	stop := func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait(); os.Remove(f.Name()) }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop
		}
	}
	stop()
	fatalf("variant server did not start")
	return "", nil
}

// serveVariant is the child: it serves until its parent goes (or for an hour
// at most).
func serveVariant(variant, answerFile, addr string) {
	answer, err := os.ReadFile(answerFile)
	if err != nil {
		log.Fatal(err)
	}
	if _, ok := variants[variant]; !ok || variant == "berth" {
		log.Fatalf("unknown variant %q (known: %s)", variant, variantNames())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	time.AfterFunc(time.Hour, func() { os.Exit(0) })
	if variant == "one-write" {
		serveOneWrite(ln, answer)
		return
	}
	if variant == "nagle" {
		ln = nagleListener{ln}
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if variant != "unread-body" {
			io.ReadAll(r.Body)
		}
		h := w.Header()
		h.Set("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
		h.Set("Content-Type", "application/x-amz-json-1.1")
		body := answer
		switch variant {
		case "delay-100us":
			time.Sleep(100 * time.Microsecond)
		case "delay-1ms":
			time.Sleep(time.Millisecond)
		case "close":
			h.Set("Connection", "close")
		case "gzip":
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				body = gzipped(answer)
				h.Set("Content-Encoding", "gzip")
			}
		}
		if variant != "chunked" {
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(http.StatusOK)
		switch variant {
		case "pieces":
			for len(body) > 0 {
				n := min(512, len(body))
				w.Write(body[:n])
				w.(http.Flusher).Flush()
				body = body[n:]
			}
		case "flush-headers":
			w.(http.Flusher).Flush()
			w.Write(body)
		default:
			w.Write(body)
		}
	})}
	log.Fatal(srv.Serve(ln))
}

type nagleListener struct{ net.Listener }

func (l nagleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(false)
	}
	return c, err
}

// serveOneWrite is a minimal keep-alive HTTP/1.1 server that sends each whole
// answer with a single write.
func serveOneWrite(ln net.Listener, answer []byte) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				var buf bytes.Buffer
				fmt.Fprintf(&buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/x-amz-json-1.1\r\nDate: %s\r\nX-Amzn-Requestid: 00000000-0000-0000-0000-000000000000\r\n\r\n",
					len(answer), time.Now().UTC().Format(http.TimeFormat))
				buf.Write(answer)
				if _, err := c.Write(buf.Bytes()); err != nil {
					return
				}
			}
		}()
	}
}

// gzipped is b compressed as the gzip variant sends it.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
