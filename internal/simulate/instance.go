package simulate

import (
	"context"
	"encoding/json"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-project/berth/agent/protocol"
	acsmsg "github.com/berth-project/berth/api/acs"
)

// Instance is one simulated container instance.
type Instance struct {
	ARN  string
	Zone string

	f           *Fleet
	mu          sync.Mutex
	tasks       map[string]string // task ARN -> the status it was reported in
	attachments map[string]string // awsvpc task ARN -> its interface's attachment ARN
}

func (f *Fleet) newInstance(arn, zone string) *Instance {
	return &Instance{ARN: arn, Zone: zone, f: f, tasks: map[string]string{}, attachments: map[string]string{}}
}

// holdACS keeps the instance's ACS session up until ctx ends; up is told
// once, when the first session opens.
func (in *Instance) holdACS(ctx context.Context, endpoint string, up chan<- struct{}) {
	q := url.Values{
		"clusterArn": {in.f.cfg.Cluster}, "containerInstanceArn": {in.ARN},
		"agentVersion": {AgentVersion}, "agentHash": {"simulated"}, "dockerVersion": {"DockerVersion: simulated"},
		"protocolVersion": {"2"}, "sendCredentials": {"false"}, "seqNum": {"1"},
	}
	in.hold(ctx, endpoint, q, func(c *protocol.Conn) error {
		if up != nil {
			up <- struct{}{}
			up = nil
		}
		return in.serveACS(c)
	})
}

// holdTCS keeps a TCS session open; a simulated agent has no metrics or
// health to publish, so it only reads.
func (in *Instance) holdTCS(ctx context.Context, endpoint string) {
	q := url.Values{"cluster": {in.f.cfg.Cluster}, "containerInstance": {in.ARN}, "agentVersion": {AgentVersion}, "agentHash": {"simulated"}}
	in.hold(ctx, endpoint, q, func(c *protocol.Conn) error {
		for {
			c.SetReadDeadline(time.Now().Add(protocol.Silence))
			if _, err := c.Read(); err != nil {
				return err
			}
		}
	})
}

// hold dials a session and serves it, reconnecting with back-off.
func (in *Instance) hold(ctx context.Context, endpoint string, q url.Values, serve func(*protocol.Conn) error) {
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		c, err := protocol.Dial(ctx, endpoint, q, in.f.cfg.Credentials, in.f.cfg.Region)
		if err == nil {
			backoff = 250 * time.Millisecond
			stop := context.AfterFunc(ctx, func() { c.Close() })
			err = serve(c)
			stop()
			c.Close()
			if protocol.Replaced(err) {
				backoff = 10 * time.Second // another agent holds the instance
			}
		}
		if ctx.Err() != nil {
			return
		}
		in.f.cfg.Log.Debug("simulated session ended; reconnecting", "instance", in.ARN, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (in *Instance) serveACS(c *protocol.Conn) error {
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
			if json.Unmarshal(f.Message, &m) != nil {
				continue
			}
			// Acknowledge first, as the agent does, then report.
			err = c.Send("AckRequest", acsmsg.AckRequest{Cluster: m.ClusterArn, ContainerInstance: m.ContainerInstanceArn, MessageId: m.MessageId})
			if !in.f.cfg.Passive {
				for _, t := range m.Tasks {
					in.apply(aws.ToString(m.ClusterArn), t)
				}
			}
		case "TaskManifestMessage":
			var m acsmsg.TaskManifestMessage
			if json.Unmarshal(f.Message, &m) != nil {
				continue
			}
			if err = c.Send("AckRequest", acsmsg.AckRequest{Cluster: m.ClusterArn, ContainerInstance: m.ContainerInstanceArn, MessageId: m.MessageId}); err != nil {
				return err
			}
			err = in.verifyManifest(c, m)
		case "TaskStopVerificationAck":
			var m acsmsg.TaskStopVerificationAck
			if json.Unmarshal(f.Message, &m) != nil {
				continue
			}
			for _, t := range m.StopTasks {
				in.stop(aws.ToString(t.TaskClusterArn), aws.ToString(t.TaskArn), nil)
			}
		}
		if err != nil {
			return err
		}
	}
}

// apply moves a task to its desired status at once, and reports it.
func (in *Instance) apply(cluster string, t acsmsg.Task) {
	arn := aws.ToString(t.Arn)
	var names []string
	for _, c := range t.Containers {
		names = append(names, aws.ToString(c.Name))
	}
	if aws.ToString(t.DesiredStatus) == "STOPPED" {
		in.stop(cluster, arn, names)
		return
	}
	in.mu.Lock()
	_, known := in.tasks[arn]
	if !known {
		in.tasks[arn] = "RUNNING"
		// An awsvpc task's network is "built" at once: its interface is
		// reported ATTACHED before its containers RUNNING, as an agent does.
		for _, eni := range t.ElasticNetworkInterfaces {
			in.attachments[arn] = aws.ToString(eni.AttachmentArn)
		}
	}
	attachment := in.attachments[arn]
	in.mu.Unlock()
	if !known {
		in.f.queue(report{cluster: cluster, task: arn, status: "RUNNING", containers: names, attachment: attachment})
	}
}

// stop reports a task STOPPED and, for an awsvpc task, then its interface
// DETACHED (the control plane holds the task DEPROVISIONING in between).
func (in *Instance) stop(cluster, arn string, names []string) {
	in.mu.Lock()
	was := in.tasks[arn]
	in.tasks[arn] = "STOPPED"
	attachment := in.attachments[arn]
	in.mu.Unlock()
	if was != "STOPPED" {
		in.f.queue(report{cluster: cluster, task: arn, status: "STOPPED", containers: names, attachment: attachment})
	}
}

// verifyManifest names the tasks it runs that the manifest does not list as
// RUNNING; the control plane answers with those to stop.
func (in *Instance) verifyManifest(c *protocol.Conn, m acsmsg.TaskManifestMessage) error {
	listed := map[string]string{}
	for _, t := range m.Tasks {
		listed[aws.ToString(t.TaskArn)] = aws.ToString(t.DesiredStatus)
	}
	var candidates []acsmsg.TaskIdentifier
	in.mu.Lock()
	for arn, s := range in.tasks {
		if s == "RUNNING" && listed[arn] != "RUNNING" {
			candidates = append(candidates, acsmsg.TaskIdentifier{TaskArn: aws.String(arn), TaskClusterArn: m.ClusterArn, DesiredStatus: aws.String("STOPPED")})
		}
	}
	in.mu.Unlock()
	if len(candidates) == 0 {
		return nil
	}
	return c.Send("TaskStopVerificationMessage", acsmsg.TaskStopVerificationMessage{MessageId: m.MessageId, StopCandidates: candidates})
}
