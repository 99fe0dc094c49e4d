package agent

import (
	"context"
	"net/netip"

	"github.com/berth-project/berth/agent/docker"
	"github.com/berth-project/berth/agent/engine"
	"github.com/berth-project/berth/agent/metadata"
)

// startMetadata opens the task metadata endpoint (agent/metadata) on the
// host's docker0 address, which bridge, host and awsvpc containers all
// reach, and sets its variables in the engine's containers. It serves until
// ctx ends.
func (a *Agent) startMetadata(ctx context.Context, rt *docker.Runtime, e *engine.Engine) error {
	addr, err := rt.BridgeGateway(ctx)
	if err != nil {
		// No default bridge (dockerd --bridge=none): host-mode containers
		// still reach the loopback address.
		a.log.Warn("no docker0 address for the task metadata endpoint; serving on 127.0.0.1, which only host-mode containers reach", "err", err)
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	mc := metadata.Config{DataDir: a.cfg.DataDir, Address: addr, Port: a.cfg.MetadataPort,
		Region: a.cfg.Region, Capacity: capacityOf(a.cfg), AvailabilityZone: a.cfg.AvailabilityZone, Log: a.log}
	srv, err := metadata.Open(mc)
	if err != nil && addr.IsLoopback() {
		return err
	}
	if err != nil {
		// The address is not this agent's to bind (it runs in a network
		// namespace of its own, say): host-mode containers still reach
		// the loopback address.
		a.log.Warn("cannot serve the task metadata endpoint on docker0's address; serving on 127.0.0.1, which only host-mode containers reach", "addr", addr, "err", err)
		mc.Address = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if srv, err = metadata.Open(mc); err != nil {
			return err
		}
	}
	e.SetEnvironment(srv.Environment)
	a.log.Info("task metadata endpoint", "url", srv.URL())
	go func() {
		if err := srv.Serve(ctx, e, rt); err != nil {
			a.log.Error("task metadata endpoint stopped", "err", err)
		}
	}()
	return nil
}
