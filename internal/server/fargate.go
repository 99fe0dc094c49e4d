package server

import (
	"context"
	"slices"
	"time"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/placement"
	"github.com/berth-project/berth/internal/state"
)

// Fargate on Berth: FARGATE and FARGATE_SPOT tasks run on Fargate capacity,
// instances that `berth agent --fargate` (and `berth dev`) register and
// that the cluster's instance lists leave out (state.CapacityKind). This
// file holds the rules ECS applies to Fargate launches and what a Fargate
// task shows; placement/launchtypes.go decides where they land.

// checkPlatformVersion applies ECS's rules for a launch's platform version:
// only Fargate has one, and it must be one Fargate offers.
func checkPlatformVersion(launchType, version string) error {
	if version == "" {
		return nil
	}
	if launchType != string(ecs.LaunchTypeFargate) {
		return ecs.NewInvalidParameterException("The platform version must be null when specifying an %s launch type.", launchType)
	}
	if !slices.Contains(state.FargatePlatformVersions, version) {
		return ecs.NewPlatformUnknownException("The specified platform does not exist.")
	}
	return nil
}

// checkFargateLaunch applies the rules of a Fargate RunTask, CreateService
// or UpdateService beyond the task definition's compatibility: no placement
// rules (Fargate places itself), and a task size Fargate offers once the
// call's overrides apply.
func checkFargateLaunch(constraints []ecs.PlacementConstraint, strategies []ecs.PlacementStrategy, td *ecs.TaskDefinition, ov *ecs.TaskOverride) error {
	if len(constraints) > 0 {
		return ecs.NewInvalidParameterException("Placement constraints are not supported with FARGATE launch type.")
	}
	if len(strategies) > 0 {
		return ecs.NewInvalidParameterException("Placement strategies are not supported with FARGATE launch type.")
	}
	if ov == nil || (ov.Cpu == nil && ov.Memory == nil) {
		return nil
	}
	cpu, memory := ov.Cpu, ov.Memory
	if cpu == nil {
		cpu = td.Cpu
	}
	if memory == nil {
		memory = td.Memory
	}
	c, okC := state.ParseTaskCPU(cpu)
	m, okM := state.ParseTaskMemory(memory)
	if !okC || !okM || !fargateSizeValid(c, m) {
		return ecs.NewInvalidParameterException("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", ecs.Val(cpu), ecs.Val(memory))
	}
	return nil
}

// checkFargatePlatform refuses a Fargate launch whose runtime platform no
// Fargate capacity of the cluster runs (an ARM64 definition where every
// host is x86_64), with the exception ECS answers for a platform that
// cannot run the definition. With no Fargate capacity at all, placement
// answers ECS's failure for that instead.
func (s *Server) checkFargatePlatform(sc state.Scope, cluster string, td *ecs.TaskDefinition) error {
	any := false
	for _, o := range s.store.List(sc.Prefix(state.KindInstance)+cluster+"/", "", 0) {
		r, err := decode[state.Instance](s, o)
		if err != nil || r.Status == state.StatusInactive || !state.IsFargateCapacity(r) {
			continue
		}
		if placement.RunsPlatform(r, td.RuntimePlatform) {
			return nil
		}
		any = true
	}
	if any {
		return ecs.NewPlatformTaskDefinitionIncompatibilityException("One or more of the requested capabilities are not supported.")
	}
	return nil
}

// fargateView adds to a Fargate task's view what ECS shows of one: its
// platform, its storage, its connectivity, and no container instance (the
// capacity it runs on is Berth's, not the cluster's).
func fargateView(t *state.Task, out *ecs.Task) {
	if t.LaunchType != string(ecs.LaunchTypeFargate) {
		return
	}
	out.ContainerInstanceArn = nil
	if p := t.Platform; p != nil {
		out.PlatformVersion = strPtr(p.Version)
		out.PlatformFamily = strPtr(p.Family)
		if p.EphemeralStorageGiB > 0 {
			out.EphemeralStorage = &ecs.EphemeralStorage{SizeInGiB: ecs.Ptr(p.EphemeralStorageGiB)}
		}
	}
	// The task is connected once its agent has begun it: the pull's start,
	// or its start when the agent reports no pull.
	at := t.PullStartedAt
	if at == nil {
		at = t.StartedAt
	}
	if at != nil {
		out.Connectivity = ecs.ConnectivityConnected
		out.ConnectivityAt = timestampOf(at)
	}
}

// clusterLaunchTaskCount counts a cluster's tasks of a launch type whose
// lastStatus is status, for the cluster's statistics.
func (s *Server) clusterLaunchTaskCount(sc state.Scope, cluster, status string, lt ecs.LaunchType) int {
	return len(s.state.ClusterTasks(sc, cluster, func(t *state.Task) bool {
		return t.LastStatus == status && t.LaunchType == string(lt)
	}))
}

// checkRunTaskLaunch applies the Fargate rules to a prepared RunTask: its
// platform version whatever the launch type, the rest for Fargate only.
func (s *Server) checkRunTaskLaunch(sc state.Scope, l *placement.Launch, in *ecs.RunTaskRequest) error {
	if err := checkPlatformVersion(l.LaunchType, ecs.Val(in.PlatformVersion)); err != nil {
		return err
	}
	if l.LaunchType != string(ecs.LaunchTypeFargate) {
		return nil
	}
	if err := checkFargateLaunch(in.PlacementConstraints, in.PlacementStrategy, l.Def, in.Overrides); err != nil {
		return err
	}
	return s.checkFargatePlatform(sc, l.Cluster.Name, l.Def)
}

// fargateJoinWait bounds how long a Fargate launch in a cluster the Fargate
// capacity has not joined yet waits for it to (see awaitFargateCapacity).
const fargateJoinWait = 10 * time.Second

// awaitFargateCapacity waits, for up to fargateJoinWait, until the cluster
// has connected Fargate capacity, when parts need it and the account has
// Fargate capacity in another cluster. ECS runs Fargate tasks in any
// cluster the moment it exists; Berth's Fargate capacity joins each new
// cluster on its own (agent.RunFargate), so a script's `create-cluster`
// then `run-task --launch-type FARGATE` would otherwise find no capacity.
// With no Fargate capacity anywhere there is nothing to wait for.
func (s *Server) awaitFargateCapacity(ctx context.Context, sc state.Scope, cluster string, parts []placement.Part) {
	if !slices.ContainsFunc(parts, placement.Part.IsFargate) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, fargateJoinWait)
	defer cancel()
	for {
		changed := s.store.Changed()
		here, elsewhere := s.fargateCapacity(sc, cluster)
		if here || !elsewhere {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// fargateCapacity says whether connected Fargate capacity is registered in
// cluster, and in any other cluster of the scope.
func (s *Server) fargateCapacity(sc state.Scope, cluster string) (here, elsewhere bool) {
	for _, o := range s.store.List(sc.Prefix(state.KindInstance), "", 0) {
		inst, err := state.Decode[state.Instance](s.state, o)
		if err != nil || inst.Status != state.StatusActive || !inst.AgentConnected || !state.IsFargateCapacity(inst) {
			continue
		}
		if inst.Cluster == cluster {
			return true, true
		}
		elsewhere = true
	}
	return false, elsewhere
}
