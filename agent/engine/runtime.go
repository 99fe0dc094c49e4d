package engine

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/berth-project/berth/agent/docker"
)

// Runtime is the engine's one seam: every container the engine touches
// goes through these calls and nothing else, so that tests can run the
// real engine over an in-memory fake. *docker.Runtime is the production
// implementation; the methods keep its signatures and meanings (Create
// returns the existing container for a name already taken, Stop blocks
// until the container stopped, Inspect answers docker.ErrNotFound for a
// container that is gone).
type Runtime interface {
	// Managed lists every container, in any state, that carries a task
	// ARN label.
	Managed(ctx context.Context) ([]docker.State, error)
	// Events delivers the ids of task containers whose state changed,
	// until ctx ends or the stream fails (then the channel is closed).
	Events(ctx context.Context) (<-chan string, <-chan error)
	Inspect(ctx context.Context, id string) (docker.State, error)
	EnsureImage(ctx context.Context, ref string) error
	EnsureVolume(ctx context.Context, name, driver string, opts, labels map[string]string) error
	Create(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig) (string, error)
	Start(ctx context.Context, id string) error
	// Stop sends SIGTERM, then SIGKILL after timeout.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// RunSandbox creates and starts an awsvpc task's pause container under
	// name, on its subnet's network at its address, and answers its id
	// (the existing one's for a name already taken).
	RunSandbox(ctx context.Context, name string, s docker.Sandbox) (string, error)
	// RemoveSandbox stops and removes a pause container (and the subnet's
	// network once no container is on it); one already gone is no error.
	RemoveSandbox(ctx context.Context, id string) error
}

// The Docker runtime is what the agent passes to New.
var _ Runtime = (*docker.Runtime)(nil)
