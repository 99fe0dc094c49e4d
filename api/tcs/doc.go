// Package tcs is the message model of the ECS telemetry communication
// service (TCS): the metrics, instance status and container health an agent
// publishes over the TCS websocket. The zz_*.go files are generated from
// spec/ecs-agent-tcs/api-2.json by internal/gen/ecsgen (run `go generate ./api/tcs`).
package tcs

//go:generate go run ../../internal/gen/ecsgen -messages tcs -label TCS -model ../../spec/ecs-agent-tcs/api-2.json -out .
