package server

import (
	"sort"

	"github.com/berth-project/berth/api/ecs"
)

// requiredAttributes computes a task definition's requiresAttributes: the
// container-instance attributes (agent capabilities) that its features
// need, as ECS derives them at registration. Placement only sends a task to
// an instance that advertises every one of them.
func requiredAttributes(td *ecs.TaskDefinition) []ecs.Attribute {
	set := map[string]bool{}
	need := func(name string) { set[name] = true }

	if td.TaskRoleArn != nil {
		need("com.amazonaws.ecs.capability.task-iam-role")
	}
	switch td.NetworkMode {
	case ecs.NetworkModeAwsvpc:
		need("ecs.capability.task-eni")
	case ecs.NetworkModeHost, ecs.NetworkModeNone:
		need("com.amazonaws.ecs.capability.task-iam-role-network-host")
	}
	for _, c := range td.ContainerDefinitions {
		if c.MemoryReservation != nil {
			need("com.amazonaws.ecs.capability.docker-remote-api.1.21")
		}
		if len(c.DockerLabels) > 0 {
			need("com.amazonaws.ecs.capability.docker-remote-api.1.18")
		}
		if c.HealthCheck != nil {
			need("ecs.capability.container-health-check")
			need("com.amazonaws.ecs.capability.docker-remote-api.1.24")
		}
		if len(c.DependsOn) > 0 {
			need("ecs.capability.container-ordering")
		}
		if c.StartTimeout != nil || c.StopTimeout != nil {
			need("ecs.capability.container-ordering")
		}
		if len(c.EnvironmentFiles) > 0 {
			need("ecs.capability.env-files.s3")
		}
		if len(c.Secrets) > 0 {
			need("ecs.capability.secrets.ssm.environment-variables")
		}
		if c.RepositoryCredentials != nil {
			need("com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager")
		}
		if len(c.SystemControls) > 0 {
			need("com.amazonaws.ecs.capability.docker-remote-api.1.25")
		}
		if lc := c.LogConfiguration; lc != nil {
			need("com.amazonaws.ecs.capability.logging-driver." + string(lc.LogDriver))
			need("com.amazonaws.ecs.capability.docker-remote-api.1.19")
			if lc.LogDriver == ecs.LogDriverAwslogs && td.ExecutionRoleArn != nil {
				need("ecs.capability.execution-role-awslogs")
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]ecs.Attribute, len(names))
	for i, n := range names {
		out[i] = ecs.Attribute{Name: ecs.Ptr(n)}
	}
	return out
}
