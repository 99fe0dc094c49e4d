// Package acs is the control plane's side of the ECS agent protocol: the ACS
// websocket that sends tasks to agents and the TCS websocket that receives
// their telemetry (container health). It speaks exactly what the stock
// amazon-ecs-agent speaks (see docs/agent-protocol.md), so that agent and
// `berth agent` are interchangeable. What a session needs from the rest of
// the control plane is the Backend interface; StateBackend implements it on
// internal/state.
package acs
