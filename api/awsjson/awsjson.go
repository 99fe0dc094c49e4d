// Package awsjson serves an AWS JSON 1.1 API over HTTP: it reads the
// operation from X-Amz-Target, limits and reads the body, has the request
// authenticated, hands it to a dispatcher, and writes the answer or the error
// exactly as AWS services do (status, "__type" and "message", request id).
// It knows nothing of what the operations mean.
package awsjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berth-project/berth/api/ecs"
)

// ContentType is what AWS JSON 1.1 requests and answers carry.
const ContentType = "application/x-amz-json-1.1"

// DefaultMaxBodyBytes is the largest request body accepted. ECS caps a task
// definition at 64 KiB of JSON; 1 MiB leaves room for every operation's
// largest legal input.
const DefaultMaxBodyBytes = 1 << 20

// Dispatcher runs one operation on an already authenticated request.
type Dispatcher func(ctx context.Context, op string, body []byte) (any, error)

// Authenticator checks a request (its headers and whole body) and returns the
// context the operation runs in, carrying who the caller is.
type Authenticator func(r *http.Request, body []byte) (context.Context, error)

// Handler is the http.Handler of one AWS JSON 1.1 service.
type Handler struct {
	TargetPrefix string // e.g. "AmazonEC2ContainerServiceV20141113"
	Dispatch     Dispatcher
	Authenticate Authenticator // nil: no authentication
	MaxBodyBytes int64         // 0: DefaultMaxBodyBytes
	Log          *slog.Logger
	// Observe, when set, is told of every finished request (for metrics).
	Observe func(op, code string, elapsed time.Duration)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", requestID)

	op, out, err := h.serve(r)
	code := ""
	if err != nil {
		code = h.writeError(w, r, op, requestID, err)
	} else {
		writeJSON(w, http.StatusOK, out)
	}
	if h.Observe != nil {
		h.Observe(op, code, time.Since(start))
	}
}

// serve does everything up to the answer; the operation name is returned even
// on failure, for logs and metrics.
func (h *Handler) serve(r *http.Request) (string, any, error) {
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return "", nil, ecs.NewProtocolError(ecs.CodeSerialization, "could not read the request body: %v", err)
	}
	if int64(len(body)) > limit {
		return "", nil, ecs.NewProtocolError(ecs.CodeRequestEntityTooLarge, "Request body of more than %d bytes is not accepted.", limit)
	}

	ctx := r.Context()
	if h.Authenticate != nil {
		if ctx, err = h.Authenticate(r, body); err != nil {
			return "", nil, err
		}
	}

	target := r.Header.Get("X-Amz-Target")
	service, op, found := strings.Cut(target, ".")
	if r.Method != http.MethodPost || !found || service != h.TargetPrefix || op == "" {
		return op, nil, ecs.NewProtocolError(ecs.CodeUnknownOperation, "The operation %q is not known to this service (X-Amz-Target must be %s.<Operation>).", target, h.TargetPrefix)
	}
	out, err := h.Dispatch(ctx, op, body)
	return op, out, err
}

// writeError sends err as AWS does and returns the exception name. Errors that
// are not API errors are bugs or outages: the client gets a ServerException
// and the log gets the details.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, op, requestID string, err error) string {
	var apiErr *ecs.Error
	if !errors.As(err, &apiErr) {
		h.log().Error("request failed", "op", op, "requestId", requestID, "err", err)
		apiErr = ecs.NewServerException("Service Unavailable. Please try again later.")
	} else if apiErr.Status >= 500 {
		h.log().Error("request failed", "op", op, "requestId", requestID, "err", err)
	}
	w.Header().Set("x-amzn-ErrorType", apiErr.Code)
	body := struct {
		Type        string   `json:"__type"`
		Message     string   `json:"message"`
		ResourceIDs []string `json:"resourceIds,omitempty"`
	}{apiErr.Code, apiErr.Message, apiErr.ResourceIDs}
	writeJSON(w, apiErr.Status, body)
	return apiErr.Code
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// AWS does not escape <, > and & in JSON answers; neither do we.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"__type":"ServerException","message":"could not encode the answer"}`)
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	w.Header().Set("Content-Type", ContentType)
	// A length, as AWS sends: a large answer is not sent chunked.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// Router serves several AWS JSON 1.1 services on one endpoint, as AWS's
// SDKs reach them with one endpoint override: each request goes to the
// Handler whose TargetPrefix its X-Amz-Target names. A target no service
// claims goes to the first, which answers UnknownOperationException.
type Router []*Handler

func (rt Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	service, _, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	for _, h := range rt {
		if h.TargetPrefix == service {
			h.ServeHTTP(w, r)
			return
		}
	}
	rt[0].ServeHTTP(w, r)
}
