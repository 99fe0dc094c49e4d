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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/agent/engine"
	apiecs "github.com/berth-project/berth/api/ecs"
)

// TestSubmitCarriesAnAWSVPCTasksAttachment sends an awsvpc task's two
// attachment reports as the stock agent sends the first: the confirmation
// alone (no status, no containers) in a SubmitTaskStateChange, and
// DETACHED within the task's STOPPED report.
func TestSubmitCarriesAnAWSVPCTasksAttachment(t *testing.T) {
	var mu sync.Mutex
	var got []apiecs.SubmitTaskStateChangeRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req apiecs.SubmitTaskStateChangeRequest
		json.Unmarshal(body, &req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"acknowledgment":"ACK"}`)
	}))
	defer srv.Close()
	a := &Agent{cfg: Config{Cluster: "default"}, log: slog.New(slog.DiscardHandler), api: ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})}
	const task, attachment = "arn:aws:ecs:us-east-1:000000000000:task/default/abc", "arn:aws:ecs:us-east-1:000000000000:attachment/def"
	code := int32(0)
	for _, r := range []engine.Report{
		{TaskARN: task, Attachments: []engine.AttachmentReport{{ARN: attachment, Status: "ATTACHED"}}},
		{TaskARN: task, Status: "STOPPED", Containers: []engine.ContainerReport{{Name: "web", Status: "STOPPED", ExitCode: &code}},
			Attachments: []engine.AttachmentReport{{ARN: attachment, Status: "DETACHED"}}},
	} {
		if err := a.submit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d calls; want 2", len(got))
	}
	confirm, stopped := got[0], got[1]
	if confirm.Status != nil || len(confirm.Containers) != 0 || len(confirm.Attachments) != 1 ||
		apiecs.Val(confirm.Attachments[0].AttachmentArn) != attachment || apiecs.Val(confirm.Attachments[0].Status) != "ATTACHED" {
		t.Errorf("the confirmation: %+v; want the attachment ATTACHED alone", confirm)
	}
	if apiecs.Val(stopped.Status) != "STOPPED" || len(stopped.Containers) != 1 || len(stopped.Attachments) != 1 ||
		apiecs.Val(stopped.Attachments[0].Status) != "DETACHED" {
		t.Errorf("the STOPPED report: %+v; want the attachment DETACHED with it", stopped)
	}
}
