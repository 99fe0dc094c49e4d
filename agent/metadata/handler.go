package metadata

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// handler answers /v3/<id>[/task][/stats] and /v4/<id>[/task][/stats]. The
// id is the only authentication, as in ECS: a request is answered only
// about the id's own task, and an unknown id is 404.
type handler struct {
	s   *Server
	src Source
	dk  Docker
}

// maxPath bounds the request path: ids are 40 characters.
const maxPath = 128

// dockerTimeout bounds what one request waits for the Engine.
const dockerTimeout = 10 * time.Second

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	if len(path) > maxPath {
		http.NotFound(w, r)
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 2 || (parts[0] != "v3" && parts[0] != "v4") {
		http.NotFound(w, r)
		return
	}
	v4, id, rest := parts[0] == "v4", parts[1], strings.Join(parts[2:], "/")
	task, name, ok := h.find(id)
	if !ok {
		http.Error(w, `{"error":"no container for this id"}`, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dockerTimeout)
	defer cancel()
	h.resolve(ctx, &task)
	var body any
	switch rest {
	case "":
		c, _ := task.container(name)
		body = h.containerDoc(ctx, task, c, v4)
	case "task":
		body = h.taskDoc(ctx, task, v4)
	case "stats":
		c, _ := task.container(name)
		body = h.stats(ctx, c.DockerID)
	case "task/stats":
		all := map[string]json.RawMessage{}
		for _, c := range task.Containers {
			if c.DockerID != "" {
				all[c.DockerID] = h.stats(ctx, c.DockerID)
			}
		}
		body = all
	default:
		http.NotFound(w, r)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// find is the task and container an id names.
func (h *handler) find(id string) (Task, string, bool) {
	if len(id) != 40 {
		return Task{}, "", false
	}
	for _, t := range h.src.Tasks() {
		for _, c := range t.Containers {
			if h.s.ID(t.ARN, c.Name) == id {
				return t, c.Name, true
			}
		}
	}
	return Task{}, "", false
}

// resolve finds the Docker ids the engine has not recorded yet: a
// container can ask as soon as it starts, before the engine has heard back
// from the Engine, and its fixed Docker name finds it.
func (h *handler) resolve(ctx context.Context, t *Task) {
	if h.dk == nil {
		return
	}
	for i := range t.Containers {
		c := &t.Containers[i]
		if c.DockerID != "" || c.DockerName == "" {
			continue
		}
		if det, err := h.dk.ContainerDetails(ctx, c.DockerName); err == nil {
			c.DockerID = det.ID
		}
	}
}

func (t Task) container(name string) (Container, bool) {
	for _, c := range t.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return Container{}, false
}

// stats is one sample, or null for a container Docker has none of (not
// created yet, or gone), as ECS answers.
func (h *handler) stats(ctx context.Context, dockerID string) json.RawMessage {
	if dockerID == "" || h.dk == nil {
		return json.RawMessage("null")
	}
	b, err := h.dk.Stats(ctx, dockerID)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
