package server

import (
	"context"
	"strings"

	"github.com/berth-project/berth/api/ecs"
)

// DiscoverPollEndpoint tells an agent where its ACS and TCS websockets are:
// on this server, under /acs and /tcs (the agent appends /ws). The base is
// the URL agents reach the server at (Options.AgentEndpoint), or else the
// Host the agent used for this very call.
func (s *Server) DiscoverPollEndpoint(ctx context.Context, in *ecs.DiscoverPollEndpointRequest) (*ecs.DiscoverPollEndpointResponse, error) {
	sc := scopeOf(ctx)
	if in.Cluster != nil {
		if _, _, err := s.state.ActiveCluster(sc, ecs.Val(in.Cluster)); err != nil {
			return nil, err
		}
	}
	base := strings.TrimRight(s.agentEndpoint, "/")
	if base == "" {
		if host, ok := ctx.Value(requestHostKey{}).(string); ok && host != "" {
			base = "http://" + host
		}
	}
	return &ecs.DiscoverPollEndpointResponse{
		Endpoint:               ecs.Ptr(base + "/acs"),
		TelemetryEndpoint:      ecs.Ptr(base + "/tcs"),
		ServiceConnectEndpoint: ecs.Ptr(base + "/sc"),
	}, nil
}

// requestHostKey carries the Host header of an API request in its context.
type requestHostKey struct{}

// WithRequestHost records the Host an API request was sent to.
func WithRequestHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, requestHostKey{}, host)
}
