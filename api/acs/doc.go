// Package acs is the message model of the ECS agent communication service
// (ACS): what the control plane and a container agent exchange over the ACS
// websocket. The zz_*.go files are generated from spec/ecs-agent-acs/api-2.json
// by internal/gen/ecsgen (run `go generate ./api/acs`).
package acs

//go:generate go run ../../internal/gen/ecsgen -messages acs -label ACS -model ../../spec/ecs-agent-acs/api-2.json -out .
