package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// OperationInfo describes one operation of the model.
type OperationInfo struct {
	Name, Input, Output string
	Errors              []string // the exceptions the model lists for it
}

// Empty stands for an operation's missing input or output shape.
type Empty struct{}

// UnimplementedHandler answers every operation with an error that names it.
// Handlers embed it, so an operation that is not written yet never looks
// like an empty success.
type UnimplementedHandler struct{}

func notImplemented(op string) error {
	return NewUnsupportedFeatureException("%s is not implemented by Berth yet.", op)
}

func unknownOperation(op string) error {
	return NewProtocolError(CodeUnknownOperation, "Operation %q is not an operation of the ECS API.", op)
}

// call decodes and validates the input of one operation and runs it. A nil
// output from the handler is answered as an empty object.
func call[I, O any](ctx context.Context, body []byte, f func(context.Context, *I) (*O, error)) (any, error) {
	in := new(I)
	if err := decodeInput(body, in); err != nil {
		return nil, err
	}
	if v, ok := any(in).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	out, err := f(ctx, in)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = new(O)
	}
	return out, nil
}

// decodeInput reads a JSON object into in. Unknown members are ignored, as
// AWS does, so clients built from a newer model keep working; an empty body
// is an empty object (the CLI and SDKs send "{}", but not every client does).
func decodeInput(body []byte, in any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return NewProtocolError(CodeSerialization, "The request body must be a JSON object.")
	}
	err := json.Unmarshal(body, in)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		where := typeErr.Field
		if where == "" {
			where = "the request"
		}
		return NewProtocolError(CodeSerialization, "Unexpected JSON %s for '%s': expected %s.", typeErr.Value, where, jsonKind(typeErr.Type.String()))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return NewProtocolError(CodeSerialization, "Malformed JSON at byte %d: %v.", syntaxErr.Offset, err)
	}
	return NewProtocolError(CodeSerialization, "Could not read the request: %v.", err)
}

// jsonKind names the JSON a Go type is decoded from, for messages.
func jsonKind(goType string) string {
	switch {
	case goType == "string" || goType == "*string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "a boolean"
	case bytes.HasPrefix([]byte(goType), []byte("[]")):
		return "a list"
	case bytes.HasPrefix([]byte(goType), []byte("map[")):
		return "an object"
	}
	for _, n := range []string{"int32", "int64", "float64"} {
		if goType == n || goType == "*"+n {
			return "a number"
		}
	}
	if len(goType) > 0 && goType[0] >= 'A' && goType[0] <= 'Z' || bytes.HasPrefix([]byte(goType), []byte("ecs.")) {
		return fmt.Sprintf("a value of type %s", bytes.TrimPrefix([]byte(goType), []byte("ecs.")))
	}
	return "a value of type " + goType
}
