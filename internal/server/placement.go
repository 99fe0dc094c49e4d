package server

// Placement glue: the stored cluster as scheduler candidates, a launch as a
// scheduler demand, and ECS's checks of the constraints and strategies a
// caller gives.
