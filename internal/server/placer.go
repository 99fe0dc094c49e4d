package server

// The placer runs the placements of one cluster one batch at a time. Calls
// that arrive while a batch is being placed wait and go together in the
// next: one read of the cluster, one scheduler pass per kind of task, one
// transaction. Instances are written back guarded by their revisions, so a
// batch placed at the same time by another server sharing the store
// conflicts and is placed again on fresh state: no instance is ever
// overcommitted.
