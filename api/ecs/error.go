package ecs

import (
	"fmt"
	"net/http"
)

// Error is an ECS API error: the exception name that goes into "__type", its
// message, and the HTTP status it travels with. It is the one error value the
// wire layer knows how to send; everything else becomes a ServerException.
type Error struct {
	Code        string   // exception name, e.g. "ClusterNotFoundException"
	Message     string   // human-readable message, as ECS words it
	Status      int      // HTTP status code
	ResourceIDs []string // ConflictException's resourceIds, when set
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// newError builds an Error; generated constructors (NewClusterNotFoundException, ...)
// call it with the status from the error table.
func newError(code string, status int, format string, args []any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Status: status}
}

// Protocol-level errors: not shapes of the ECS model, but sent by every AWS
// JSON 1.1 service for requests that never reach an operation.
const (
	CodeUnknownOperation      = "UnknownOperationException"
	CodeSerialization         = "SerializationException"
	CodeInvalidSignature      = "InvalidSignatureException"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
	CodeMissingAuthToken      = "MissingAuthenticationTokenException"
	CodeRequestEntityTooLarge = "RequestEntityTooLargeException"
	CodeAccessDenied          = "AccessDeniedException"
	CodeThrottling            = "ThrottlingException"
)

// NewProtocolError builds one of the protocol-level errors above with the HTTP
// status AWS sends it with.
func NewProtocolError(code, format string, args ...any) *Error {
	status := http.StatusBadRequest
	switch code {
	case CodeInvalidSignature, CodeUnrecognizedClient, CodeMissingAuthToken, CodeAccessDenied:
		status = http.StatusForbidden
	case CodeRequestEntityTooLarge:
		status = http.StatusRequestEntityTooLarge
	}
	return newError(code, status, format, args)
}
