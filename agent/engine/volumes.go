package engine

import (
	"context"

	acsmsg "github.com/berth-project/berth/api/acs"
	"github.com/berth-project/berth/api/ecs"
)

// A task's volumes, as ECS defines them:
//   - host with a sourcePath: a bind mount of that host path;
//   - host without one: an empty Docker volume that belongs to the task;
//   - docker, scope task: a Docker volume of the task's own;
//   - docker, scope shared: a Docker volume by that name, shared by every task
//     that names it (created when autoprovision is set, else it must exist).

// volumeName is the Docker volume behind a task volume, "" for host paths.
func volumeName(t *task, v acsmsg.Volume) string {
	switch {
	case v.Type == "host" && v.Host != nil && ecs.Val(v.Host.SourcePath) != "":
		return ""
	case v.DockerVolumeConfiguration != nil && v.DockerVolumeConfiguration.Scope == acsmsg.ScopeShared:
		return ecs.Val(v.Name)
	default:
		return "ecs-" + t.id() + "-" + ecs.Val(v.Name)
	}
}

// volumeSources maps each task volume to what containers mount.
func (t *task) volumeSources() map[string]string {
	out := map[string]string{}
	if t.spec == nil {
		return out
	}
	for _, v := range t.spec.Volumes {
		if name := volumeName(t, v); name != "" {
			out[ecs.Val(v.Name)] = name
		} else {
			out[ecs.Val(v.Name)] = ecs.Val(v.Host.SourcePath)
		}
	}
	return out
}

// prepare creates the Docker volumes a task needs.
func (e *Engine) prepare(ctx context.Context, t *task) error {
	for _, v := range t.spec.Volumes {
		name := volumeName(t, v)
		if name == "" {
			continue
		}
		driver, opts, labels := "local", map[string]string(nil), map[string]string(nil)
		if dvc := v.DockerVolumeConfiguration; dvc != nil {
			if dvc.Scope == acsmsg.ScopeShared && !ecs.Val(dvc.Autoprovision) {
				continue // must exist already; Docker says so at create if it does not
			}
			driver, opts, labels = ecs.Val(dvc.Driver), dvc.DriverOpts, dvc.Labels
		}
		if err := e.rt.EnsureVolume(ctx, name, driver, opts, labels); err != nil {
			return err
		}
	}
	return nil
}
