// Package ssm is the wire model of the AWS Systems Manager API (2014-11-06,
// AWS JSON 1.1), of which Berth serves Parameter Store.
//
// The zz_*.go files are generated from spec/ssm-2014-11-06/service-2.json by
// internal/gen/ecsgen (run `go generate ./api/ssm`): a Go type for every
// shape, the table of operations, the Handler interface with its dispatcher,
// the error table and input validation (the model's constraints, answered
// as ValidationException). The rest is hand-written. Errors are api/ecs's
// Error type, the one wire error api/awsjson sends, so both services answer
// through the same codec; internal/ssm checks what the model does not say.
package ssm

//go:generate go run ../../internal/gen/ecsgen -service ssm -label SSM -model ../../spec/ssm-2014-11-06/service-2.json -out .
