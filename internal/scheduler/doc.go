// Package scheduler decides where tasks go: ECS's task placement as a
// pipeline of small steps. Filters decide which container instances can take
// a task (status, agent, capacity provider, required attributes, resources,
// placement constraints); the ordered placement strategies (binpack, spread,
// random) then choose among them. It is pure logic over a snapshot of the
// cluster: the caller builds the candidates from stored state and writes the
// placements back in one transaction.
package scheduler
