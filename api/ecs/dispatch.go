package ecs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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

// Call decodes and validates the input of one operation and runs it. A nil
// output from the handler is answered as an empty object. The wire layers
// of the other services served beside ECS (api/ssm) use it too.
func Call[I, O any](ctx context.Context, body []byte, f func(context.Context, *I) (*O, error)) (any, error) {
	return call(ctx, body, f)
}

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

// decodeInput reads a JSON object into in. Member names are matched
// exactly, as AWS matches them ({"CLUSTERNAME":"x"} names no cluster), and
// unknown members are ignored, as AWS does, so clients built from a newer
// model keep working; an empty body is an empty object (the CLI and SDKs
// send "{}", but not every client does). encoding/json matches names
// regardless of case, so the decoder is encoding/json/v2's (the
// go-json-experiment module until the standard library's is stable); a
// member given twice keeps its last value, as encoding/json did.
func decodeInput(body []byte, in any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return NewProtocolError(CodeSerialization, "The request body must be a JSON object.")
	}
	err := jsonv2.Unmarshal(body, in, jsontext.AllowDuplicateNames(true))
	if err == nil {
		return nil
	}
	var semErr *jsonv2.SemanticError
	if errors.As(err, &semErr) && semErr.GoType != nil {
		var inner *Error
		if errors.As(semErr.Err, &inner) {
			return inner
		}
		where := memberPath(semErr.JSONPointer)
		if semErr.Err != nil && reflect.PointerTo(semErr.GoType).Implements(unmarshalerType) {
			// A type of this package that reads itself (Timestamp) says why.
			return NewProtocolError(CodeSerialization, "Could not read '%s': %v.", where, semErr.Err)
		}
		if semErr.JSONKind != 0 {
			return NewProtocolError(CodeSerialization, "Unexpected JSON %s for '%s': expected %s.", kindName(semErr.JSONKind), where, jsonKind(semErr.GoType.String()))
		}
		return NewProtocolError(CodeSerialization, "Could not read '%s': %v.", where, semErr.Err)
	}
	var syntaxErr *jsontext.SyntacticError
	if errors.As(err, &syntaxErr) {
		return NewProtocolError(CodeSerialization, "Malformed JSON at byte %d: %v.", syntaxErr.ByteOffset, syntaxErr.Err)
	}
	return NewProtocolError(CodeSerialization, "Could not read the request: %v.", err)
}

var unmarshalerType = reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()

// memberPath spells a JSON pointer (/containerDefinitions/0/memory) as the
// member path of messages (containerDefinitions.0.memory).
func memberPath(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		parts = append(parts, tok)
	}
	if len(parts) == 0 {
		return "the request"
	}
	return strings.Join(parts, ".")
}

// kindName names the JSON kind that was given, for messages.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
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

// DecodeInput reads a request body into in as the operations of this
// package read theirs; the other services' wire packages (api/ssm) use it so
// that every service served on the endpoint decodes alike.
func DecodeInput(body []byte, in any) error { return decodeInput(body, in) }
