package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// TestRegisterKeepsItsInstance restarts an agent that registered before:
// it registers again with its container instance ARN, which its
// containers carry (they are adopted by it), through any failure that may
// pass, and registers as a new instance only when the control plane says
// it does not know the old one.
func TestRegisterKeepsItsInstance(t *testing.T) {
	const old = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123456789abcdef"
	cases := []struct {
		name    string
		status  int
		code    string
		wantARN string // what the second call carries
	}{
		{"a server error", 500, "ServerException", old},
		{"throttled", 400, "ThrottlingException", old},
		{"an instance the control plane does not know", 400, "ClientException", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent []string // containerInstanceArn of each call
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var in struct {
					ContainerInstanceArn string `json:"containerInstanceArn"`
				}
				body, _ := io.ReadAll(r.Body)
				json.Unmarshal(body, &in)
				mu.Lock()
				sent = append(sent, in.ContainerInstanceArn)
				first := len(sent) == 1
				mu.Unlock()
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				if first {
					w.WriteHeader(tc.status)
					json.NewEncoder(w).Encode(map[string]string{"__type": tc.code, "message": "Referenced container instance not registered."})
					return
				}
				arn := in.ContainerInstanceArn
				if arn == "" {
					arn = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/fedcba9876543210"
				}
				json.NewEncoder(w).Encode(map[string]any{"containerInstance": map[string]any{"containerInstanceArn": arn}})
			}))
			defer srv.Close()
			a := &Agent{cfg: Config{Cluster: "default", DataDir: t.TempDir()}, log: slog.New(slog.DiscardHandler), api: ecs.New(ecs.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			})}
			if err := a.saveState(state{Cluster: "default", ContainerInstanceARN: old}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := a.register(ctx, "20.10.24"); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 2 || sent[0] != old || sent[1] != tc.wantARN {
				t.Fatalf("calls carried %q; want %q, then %q", sent, old, tc.wantARN)
			}
		})
	}
}
