package ssm

import (
	"fmt"

	"github.com/berth-project/berth/api/ecs"
)

// Error is the wire error api/awsjson knows how to send; SSM's exceptions
// are values of it with SSM's names.
type Error = ecs.Error

// Timestamp is the AWS JSON 1.1 instant (epoch seconds), as in api/ecs.
type Timestamp = ecs.Timestamp

func newError(code string, status int, format string, args []any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Status: status}
}
