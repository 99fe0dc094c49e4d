package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/berth-project/berth/agent/engine"
	"github.com/berth-project/berth/agent/protocol"
	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/tcs"
)

// reconnect waits before the next attempt, backing off from 250 ms to 30 s.
func reconnect(ctx context.Context, backoff *time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*backoff):
	}
	*backoff = min(*backoff*2, 30*time.Second)
	return true
}

// endpoints asks the control plane where its ACS and TCS are.
func (a *Agent) endpoints(ctx context.Context) (acsURL, tcsURL string, err error) {
	out, err := a.api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String(a.cfg.Cluster), ContainerInstance: aws.String(a.instance)})
	if err != nil {
		return "", "", err
	}
	return aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint), nil
}

// control holds the ACS session, reconnecting until ctx ends.
func (a *Agent) control(ctx context.Context) {
	backoff := 250 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		acsURL, _, err := a.endpoints(ctx)
		if err == nil {
			q := url.Values{
				"clusterArn": {a.cfg.Cluster}, "containerInstanceArn": {a.instance},
				"agentVersion": {Version}, "agentHash": {"berth"}, "dockerVersion": {"DockerVersion: " + a.rt.Version(ctx)},
				"protocolVersion": {"2"}, "sendCredentials": {map[bool]string{true: "true", false: "false"}[first]}, "seqNum": {"1"},
			}
			var c *protocol.Conn
			if c, err = protocol.Dial(ctx, acsURL, q, a.cfg.Credentials, a.cfg.Region); err == nil {
				first = false
				backoff = 250 * time.Millisecond
				err = a.serveACS(ctx, c)
				c.Close()
				if protocol.Replaced(err) {
					backoff = 30 * time.Second // another agent holds the instance
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("ACS session ended; reconnecting", "err", err, "in", backoff)
		if !reconnect(ctx, &backoff) {
			return
		}
	}
}

func (a *Agent) serveACS(ctx context.Context, c *protocol.Conn) error {
	go func() { <-ctx.Done(); c.Close() }()
	for {
		c.SetReadDeadline(time.Now().Add(protocol.Silence))
		f, err := c.Read()
		if err != nil {
			return err
		}
		switch f.Type {
		case "HeartbeatMessage":
			var m acsmsg.HeartbeatMessage
			json.Unmarshal(f.Message, &m)
			err = c.Send("HeartbeatAckRequest", acsmsg.HeartbeatAckRequest{MessageId: m.MessageId})
		case "PayloadMessage":
			var m acsmsg.PayloadMessage
			if err := json.Unmarshal(f.Message, &m); err != nil {
				a.log.Warn("unreadable payload", "err", err)
				continue
			}
			a.engine.Apply(m.Tasks)
			err = c.Send("AckRequest", acsmsg.AckRequest{Cluster: m.ClusterArn, ContainerInstance: m.ContainerInstanceArn, MessageId: m.MessageId})
		case "TaskManifestMessage":
			var m acsmsg.TaskManifestMessage
			if json.Unmarshal(f.Message, &m) != nil {
				continue
			}
			if err = c.Send("AckRequest", acsmsg.AckRequest{Cluster: m.ClusterArn, ContainerInstance: m.ContainerInstanceArn, MessageId: m.MessageId}); err != nil {
				return err
			}
			err = a.verifyManifest(c, m)
		case "TaskStopVerificationAck":
			var m acsmsg.TaskStopVerificationAck
			if json.Unmarshal(f.Message, &m) != nil {
				continue
			}
			var arns []string
			for _, t := range m.StopTasks {
				arns = append(arns, aws.ToString(t.TaskArn))
			}
			a.engine.Stop(arns)
		}
		if err != nil {
			return err
		}
	}
}

// verifyManifest names the tasks this machine runs that the manifest does
// not list as running: the control plane says which of them to stop.
func (a *Agent) verifyManifest(c *protocol.Conn, m acsmsg.TaskManifestMessage) error {
	listed := map[string]string{}
	for _, t := range m.Tasks {
		listed[aws.ToString(t.TaskArn)] = aws.ToString(t.DesiredStatus)
	}
	var candidates []acsmsg.TaskIdentifier
	for arn := range a.engine.Running() {
		if listed[arn] != "RUNNING" {
			candidates = append(candidates, acsmsg.TaskIdentifier{TaskArn: aws.String(arn), TaskClusterArn: m.ClusterArn, DesiredStatus: aws.String("STOPPED")})
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	return c.Send("TaskStopVerificationMessage", acsmsg.TaskStopVerificationMessage{MessageId: m.MessageId, StopCandidates: candidates})
}

// telemetry holds the TCS session and publishes container health every few
// seconds; metrics are not collected.
func (a *Agent) telemetry(ctx context.Context) {
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		_, tcsURL, err := a.endpoints(ctx)
		if err == nil {
			q := url.Values{"cluster": {a.cfg.Cluster}, "containerInstance": {a.instance}, "agentVersion": {Version}, "agentHash": {"berth"}}
			var c *protocol.Conn
			if c, err = protocol.Dial(ctx, tcsURL, q, a.cfg.Credentials, a.cfg.Region); err == nil {
				backoff = 250 * time.Millisecond
				err = a.publishHealth(ctx, c)
				c.Close()
			}
		}
		if ctx.Err() != nil || !reconnect(ctx, &backoff) {
			return
		}
		a.log.Debug("TCS session ended; reconnecting", "err", err)
	}
}

func (a *Agent) publishHealth(ctx context.Context, c *protocol.Conn) error {
	errs := make(chan error, 1)
	go func() { // acknowledgements and heartbeats only need reading
		for {
			c.SetReadDeadline(time.Now().Add(protocol.Silence))
			if _, err := c.Read(); err != nil {
				errs <- err
				return
			}
		}
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case <-tick.C:
		}
		health := a.engine.Health()
		var tasks []tcs.TaskHealth
		for arn, containers := range health {
			th := tcs.TaskHealth{TaskArn: aws.String(arn)}
			for name, status := range containers {
				th.Containers = append(th.Containers, tcs.ContainerHealth{ContainerName: aws.String(name), HealthStatus: tcs.HealthStatus(status)})
			}
			tasks = append(tasks, th)
		}
		sig, _ := json.Marshal(health)
		if len(tasks) == 0 || string(sig) == last {
			continue
		}
		err := c.Send("PublishHealthRequest", tcs.PublishHealthRequest{
			Metadata: &tcs.HealthMetadata{Cluster: aws.String(a.cfg.Cluster), ContainerInstance: aws.String(a.instance), MessageId: aws.String(uuid.NewString())},
			Tasks:    tasks,
		})
		if err != nil {
			return err
		}
		last = string(sig)
	}
}

// submit reports a task's state with SubmitTaskStateChange, in one call:
// the engine sends a report again, with back-off, when it fails, and on
// the task's own goroutine, so one task's failures never hold up
// another's. An answer that another try would not change is marked
// engine.ErrRejected, and dropped.
func (a *Agent) submit(ctx context.Context, r engine.Report) error {
	in := &ecs.SubmitTaskStateChangeInput{
		Cluster: aws.String(a.cfg.Cluster),
		Task:    aws.String(r.TaskARN),
	}
	for _, att := range r.Attachments {
		in.Attachments = append(in.Attachments, types.AttachmentStateChange{AttachmentArn: aws.String(att.ARN), Status: aws.String(att.Status)})
	}
	if r.Status == "" {
		// An attachment's confirmation alone, as the stock agent sends
		// one: no status, no containers.
		return a.send(ctx, in)
	}
	in.Status = aws.String(r.Status)
	if r.Reason != "" {
		in.Reason = aws.String(r.Reason)
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	in.PullStartedAt, in.PullStoppedAt, in.ExecutionStoppedAt = at(r.PullStartedAt), at(r.PullStoppedAt), at(r.ExecutionStoppedAt)
	for _, c := range r.Containers {
		cs := types.ContainerStateChange{ContainerName: aws.String(c.Name), Status: aws.String(c.Status), ExitCode: c.ExitCode}
		if c.RuntimeID != "" {
			cs.RuntimeId = aws.String(c.RuntimeID)
		}
		if c.Reason != "" {
			cs.Reason = aws.String(c.Reason)
		}
		for _, b := range c.Bindings {
			cs.NetworkBindings = append(cs.NetworkBindings, types.NetworkBinding{BindIP: b.BindIP, ContainerPort: b.ContainerPort, HostPort: b.HostPort, Protocol: types.TransportProtocol(b.Protocol)})
		}
		in.Containers = append(in.Containers, cs)
	}
	return a.send(ctx, in)
}

// send makes one SubmitTaskStateChange call, its error marked as submit says.
func (a *Agent) send(ctx context.Context, in *ecs.SubmitTaskStateChangeInput) error {
	_, err := a.api.SubmitTaskStateChange(ctx, in)
	if err != nil && final(err) {
		return fmt.Errorf("%w: %w", engine.ErrRejected, err)
	}
	return err
}

// final reports whether the control plane's answer would be the same
// however often the call is made again: a client error (4xx), such as
// "InvalidParameterException: The referenced task was not found." for a
// task it does not know, but not throttling or a request timeout. Server
// errors and calls that got no answer may go better next time.
func final(err error) bool {
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) {
		return false
	}
	status := resp.HTTPStatusCode()
	if status < 400 || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if _, ok := retry.DefaultThrottleErrorCodes[api.ErrorCode()]; ok {
			return false
		}
		if _, ok := retry.DefaultRetryableErrorCodes[api.ErrorCode()]; ok {
			return false
		}
	}
	return true
}
