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

// call runs one operation as the ECS wire layer runs its own (exact member
// names, unknown members ignored, validation against the model).
func call[I, O any](ctx context.Context, body []byte, f func(context.Context, *I) (*O, error)) (any, error) {
	return ecs.Call(ctx, body, f)
}
