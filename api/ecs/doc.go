// Package ecs is the wire model of the Amazon ECS API (2014-11-13, AWS JSON 1.1).
//
// The zz_*.go files are generated from spec/ecs-2014-11-13/service-2.json by
// internal/gen/ecsgen (run `go generate ./api/ecs`): a Go type for every shape,
// the table of operations, the Handler interface with its dispatcher, the error
// table and input validation. Everything else in this package is hand-written:
// the timestamp encoding, the error type and pointer helpers.
package ecs

//go:generate go run ../../internal/gen/ecsgen -model ../../spec/ecs-2014-11-13/service-2.json -out .
