// Package docker is `berth agent`'s side of the Docker Engine: it maps the
// agent's tasks onto containers (Build) and runs them through the Docker
// Engine Go client, negotiating the API version so that Engine 20.10 (API
// 1.41) and newer work alike.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// Runtime runs containers on the local Docker Engine.
type Runtime struct {
	cli         *client.Client
	taskCgroups taskCgroups // see taskcgroup.go

	pauseMu  sync.Mutex // held while the pause image is looked for or built
	pauseRef string     // the pause image, once built or found (pause.go)
}

// New connects to the Engine named by the environment (DOCKER_HOST, or the
// local socket) and checks that it answers.
func New(ctx context.Context) (*Runtime, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("the Docker Engine does not answer: %w", err)
	}
	return &Runtime{cli: cli}, nil
}

// Close releases the client.
func (r *Runtime) Close() error { return r.cli.Close() }

// Client is the underlying Docker client, for tests that build images.
func (r *Runtime) Client() *client.Client { return r.cli }

// Version is the Engine's version, as agents report it ("DockerVersion: 20.10.24").
func (r *Runtime) Version(ctx context.Context) string {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return ""
	}
	return v.Version
}

// EnsureImage uses the image when the Engine has it and pulls it otherwise.
// The error of a failed pull reads as ECS reports one in stoppedReason.
func (r *Runtime) EnsureImage(ctx context.Context, ref string) error {
	if _, err := r.cli.ImageInspect(ctx, ref); err == nil {
		return nil
	}
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err == nil {
		err = pullError(rc) // the pull runs while its progress is read
		rc.Close()
	}
	if err == nil {
		_, err = r.cli.ImageInspect(ctx, ref) // a pull can end without an image
	}
	if err != nil {
		return fmt.Errorf("CannotPullContainerError: pull image %s: %v", ref, err)
	}
	return nil
}

// pullError reads a pull's progress stream to its end. Docker reports a
// failed pull inside the stream, as {"error": ...}, not as the call's error.
func pullError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// EnsureVolume creates a Docker volume unless it exists.
func (r *Runtime) EnsureVolume(ctx context.Context, name, driver string, opts, labels map[string]string) error {
	if _, err := r.cli.VolumeInspect(ctx, name); err == nil {
		return nil
	}
	if driver == "" {
		driver = "local"
	}
	_, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: driver, DriverOpts: opts, Labels: labels})
	return err
}

// RemoveVolume removes a volume; one already gone is no error.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	err := r.cli.VolumeRemove(ctx, name, true)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// Create creates a container under name; an existing container of that
// name is returned as it is (a create retried after a crash).
func (r *Runtime) Create(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig) (string, error) {
	resp, err := r.cli.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{}, nil, name)
	if errdefs.IsConflict(err) {
		existing, ierr := r.cli.ContainerInspect(ctx, name)
		if ierr == nil {
			return existing.ID, nil
		}
	}
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// Start starts a created container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	return r.cli.ContainerStart(ctx, id, container.StartOptions{})
}

// Stop sends SIGTERM, then SIGKILL after timeout, as ECS's stopTimeout asks.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout / time.Second)
	err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// Remove removes a container and its anonymous volumes.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// Binding is a published port, as ECS reports it in networkBindings.
type Binding struct {
	BindIP        string
	ContainerPort int32
	HostPort      int32
	Protocol      string
}

// State is what the agent reports of a container.
type State struct {
	ID         string
	Running    bool
	Exited     bool // ran and stopped
	ExitCode   int
	Error      string // the Engine's reason a start failed
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
	Health     string // HEALTHY, UNHEALTHY or UNKNOWN, as ECS names them; "" without a health check
	Bindings   []Binding
	Labels     map[string]string
}

// ErrNotFound means the container does not exist (any more).
var ErrNotFound = errors.New("no such container")

// Inspect reads a container's state.
func (r *Runtime) Inspect(ctx context.Context, id string) (State, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if errdefs.IsNotFound(err) {
		return State{}, ErrNotFound
	}
	if err != nil {
		return State{}, err
	}
	st := State{ID: c.ID, Running: c.State.Running, ExitCode: c.State.ExitCode, Error: c.State.Error, OOMKilled: c.State.OOMKilled}
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
	st.FinishedAt, _ = time.Parse(time.RFC3339Nano, c.State.FinishedAt)
	st.Exited = !c.State.Running && st.FinishedAt.Year() > 1
	if st.Exited && c.HostConfig != nil {
		st.OOMKilled = r.oomKilled(ctx, c.HostConfig.CgroupParent, st.OOMKilled, st.ExitCode)
	}
	if c.Config != nil {
		st.Labels = c.Config.Labels
	}
	if h := c.State.Health; h != nil {
		switch h.Status {
		case container.Healthy:
			st.Health = "HEALTHY"
		case container.Unhealthy:
			st.Health = "UNHEALTHY"
		default:
			st.Health = "UNKNOWN"
		}
	}
	if c.NetworkSettings != nil {
		for port, bindings := range c.NetworkSettings.Ports {
			for _, b := range bindings {
				hp, err := strconv.Atoi(b.HostPort)
				if err != nil {
					continue
				}
				ip := b.HostIP
				if ip == "" || ip == "::" {
					if strings.Contains(ip, ":") {
						continue // the IPv6 twin of an IPv4 binding
					}
					ip = "0.0.0.0"
				} else if strings.Contains(ip, ":") {
					continue
				}
				st.Bindings = append(st.Bindings, Binding{BindIP: ip, ContainerPort: int32(port.Int()), HostPort: int32(hp), Protocol: port.Proto()})
			}
		}
	}
	return st, nil
}

// Managed lists every container, running or not, that carries a task ARN
// label: what an agent re-adopts after a restart.
func (r *Runtime) Managed(ctx context.Context) ([]State, error) {
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelTaskARN))})
	if err != nil {
		return nil, err
	}
	var out []State
	for _, c := range list {
		st, err := r.Inspect(ctx, c.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Events delivers the ids of task containers whose state changed (start,
// die, health), until ctx ends or the event stream fails.
func (r *Runtime) Events(ctx context.Context) (<-chan string, <-chan error) {
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", LabelTaskARN),
	)})
	out := make(chan string, 64)
	outErr := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-msgs:
				switch {
				case m.Action == events.ActionStart, m.Action == events.ActionDie, strings.HasPrefix(string(m.Action), "health_status"):
					select {
					case out <- m.Actor.ID:
					case <-ctx.Done():
						return
					}
				}
			case err := <-errs:
				outErr <- err
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, outErr
}
