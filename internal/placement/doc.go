// Package placement decides where tasks go and writes them there: the
// per-cluster placer (a queue whose calls are placed in batches, one
// scheduler pass and one guarded transaction per batch, in the spirit of
// Nomad's plan queue), the stored cluster as scheduler candidates, a launch
// as a scheduler demand, ECS's checks of placement constraints and
// strategies, and DAEMON eligibility. The decisions themselves are
// internal/scheduler's pure functions.
package placement
