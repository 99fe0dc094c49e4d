package server

import "github.com/berth-project/berth/api/ecs"

// validateCapacityProviders checks the capacity providers a cluster is to
// use and its default strategy.
// TODO(capacity providers): check custom providers exist and are ACTIVE.
func (s *Server) validateCapacityProviders(sc scope, names []string, strategy []ecs.CapacityProviderStrategyItem) error {
	return nil
}
