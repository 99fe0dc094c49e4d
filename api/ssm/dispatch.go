package ssm

import (
	"context"

	"github.com/berth-project/berth/api/ecs"
)

// OperationInfo describes one operation of the model.
type OperationInfo = ecs.OperationInfo

// Empty stands for an operation's missing input or output shape.
type Empty struct{}

// UnimplementedHandler answers every operation with an error that names it,
// so that the parts of SSM Berth does not serve never look like a success.
type UnimplementedHandler struct{}

func notImplemented(op string) error {
	return newError("UnsupportedOperationException", 400, "%s is not implemented by Berth: it serves the Parameter Store part of SSM.", []any{op})
}

func unknownOperation(op string) error {
	return ecs.NewProtocolError(ecs.CodeUnknownOperation, "Operation %q is not an operation of the SSM API.", op)
}

// call decodes the input of one operation, with the decoder the ECS wire
// layer uses (exact member names, unknown members ignored), validates it
// against the model and runs it.
func call[I, O any](ctx context.Context, body []byte, f func(context.Context, *I) (*O, error)) (any, error) {
	in := new(I)
	if err := ecs.DecodeInput(body, in); err != nil {
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
