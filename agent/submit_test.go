package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/agent/engine"
	apiecs "github.com/berth-project/berth/api/ecs"
)

// TestSubmitSaysWhetherToSendAgain answers SubmitTaskStateChange as a
// control plane would: submit makes one call, and says which answers
// would be the same however often the report is sent again (a client
// error other than throttling) and which are worth another try.
func TestSubmitSaysWhetherToSendAgain(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		code     string // the error's __type; "" for success
		rejected bool
	}{
		{name: "taken", status: 200},
		{name: "a task the control plane does not know", status: 400, code: "InvalidParameterException", rejected: true},
		{name: "a cluster it does not know", status: 400, code: "ClusterNotFoundException", rejected: true},
		{name: "throttled (400)", status: 400, code: "ThrottlingException"},
		{name: "throttled (429)", status: 429, code: "TooManyRequestsException"},
		{name: "a server error", status: 500, code: "ServerException"},
		{name: "unavailable", status: 503, code: "ServiceUnavailableException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			var got apiecs.SubmitTaskStateChangeRequest
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				json.Unmarshal(body, &got)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				if tc.code == "" {
					io.WriteString(w, `{"acknowledgment":"ACK"}`)
					return
				}
				w.WriteHeader(tc.status)
				json.NewEncoder(w).Encode(map[string]string{"__type": tc.code, "message": "The referenced task was not found."})
			}))
			defer srv.Close()
			a := &Agent{cfg: Config{Cluster: "default"}, log: slog.New(slog.DiscardHandler), api: ecs.New(ecs.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			})}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			code := int32(0)
			err := a.submit(ctx, engine.Report{TaskARN: "arn:aws:ecs:us-east-1:000000000000:task/default/abc", Status: "STOPPED",
				Containers: []engine.ContainerReport{{Name: "web", Status: "STOPPED", ExitCode: &code,
					Bindings: []apiecs.NetworkBinding{{ContainerPort: apiecs.Ptr(int32(80)), HostPort: apiecs.Ptr(int32(32768))}}}}})
			if n := calls.Load(); n != 1 {
				t.Fatalf("%d calls; want one: the engine decides when to try again (err %v)", n, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("submit waited for its context to end")
			}
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("a report that was taken: %v", err)
			case tc.code != "" && err == nil:
				t.Fatalf("a %d %s answer was taken as success", tc.status, tc.code)
			case errors.Is(err, engine.ErrRejected) != tc.rejected:
				t.Fatalf("%d %s: rejected=%v (%v); want %v", tc.status, tc.code, errors.Is(err, engine.ErrRejected), err, tc.rejected)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got.Containers) != 1 || len(got.Containers[0].NetworkBindings) != 1 || apiecs.Val(got.Containers[0].NetworkBindings[0].HostPort) != 32768 {
				t.Fatalf("the request's containers: %+v", got.Containers)
			}
		})
	}
}
