package agent

import (
	"bufio"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// reservedPorts are the host ports the stock agent reserves by default: SSH,
// the Docker API and the agent's own.
var reservedPorts = []string{"22", "2375", "2376", "51678", "51679"}

// resources is what this machine offers tasks: 1,024 CPU units per core and
// its memory less the reserve, as ECS counts them.
func resources(reservedMiB int) []types.Resource {
	mem := max(memoryMiB()-reservedMiB, 0)
	return []types.Resource{
		{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: int32(runtime.NumCPU() * 1024)},
		{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: int32(mem)},
		{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: reservedPorts},
		{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
	}
}

// memoryMiB reads MemTotal from /proc/meminfo.
func memoryMiB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024
		}
	}
	return 0
}

// capabilities are the agent capabilities `berth agent` has, named as ECS
// names them, so that task definitions requiring them can be placed here.
var capabilities = []string{
	"com.amazonaws.ecs.capability.docker-remote-api.1.17",
	"com.amazonaws.ecs.capability.docker-remote-api.1.18",
	"com.amazonaws.ecs.capability.docker-remote-api.1.19",
	"com.amazonaws.ecs.capability.docker-remote-api.1.21",
	"com.amazonaws.ecs.capability.docker-remote-api.1.24",
	"com.amazonaws.ecs.capability.docker-remote-api.1.25",
	"com.amazonaws.ecs.capability.docker-remote-api.1.29",
	"com.amazonaws.ecs.capability.docker-remote-api.1.32",
	"com.amazonaws.ecs.capability.logging-driver.json-file",
	"com.amazonaws.ecs.capability.logging-driver.awslogs",
	"com.amazonaws.ecs.capability.logging-driver.local",
	"com.amazonaws.ecs.capability.logging-driver.none",
	"com.amazonaws.ecs.capability.logging-driver.syslog",
	"com.amazonaws.ecs.capability.task-iam-role",
	"com.amazonaws.ecs.capability.task-iam-role-network-host",
	"ecs.capability.container-health-check",
	"ecs.capability.container-ordering",
	"ecs.capability.env-files.s3",
	"ecs.capability.execution-role-awslogs",
	"ecs.capability.docker-plugin.local",
	// awsvpc: the payload's network interface becomes a pause container's
	// address on a Docker bridge of its subnet (agent/docker/awsvpc.go).
	"ecs.capability.task-eni",
}

// attributes are what the instance registers with: custom ones first, then
// capabilities, then the platform's.
func attributes(cfg Config) []types.Attribute {
	var out []types.Attribute
	keys := make([]string, 0, len(cfg.Attributes))
	for k := range cfg.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, types.Attribute{Name: aws.String(k), Value: aws.String(cfg.Attributes[k])})
	}
	for _, c := range capabilities {
		out = append(out, types.Attribute{Name: aws.String(c)})
	}
	out = append(out, capacityAttributes(cfg)...)
	arch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[runtime.GOARCH]
	out = append(out,
		types.Attribute{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
		types.Attribute{Name: aws.String("ecs.os-family"), Value: aws.String("LINUX")},
		types.Attribute{Name: aws.String("ecs.cpu-architecture"), Value: aws.String(arch)},
	)
	if cfg.AvailabilityZone != "" {
		out = append(out, types.Attribute{Name: aws.String("ecs.availability-zone"), Value: aws.String(cfg.AvailabilityZone)})
	}
	return out
}
