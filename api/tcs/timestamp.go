package tcs

import "github.com/berth-project/berth/api/ecs"

// Timestamp is an instant on the agent protocol's wire: epoch seconds as a
// JSON number with millisecond precision, the same encoding as the ECS API
// (the stock agent sends e.g. "timestamp":1795531283.682).
type Timestamp = ecs.Timestamp
