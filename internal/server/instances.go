package server

// clusterInstanceCount is the number of ACTIVE and DRAINING container
// instances registered in a cluster.
// TODO(container instances): count by status.
func (s *Server) clusterInstanceCount(sc scope, cluster string) int {
	return s.store.Count(sc.prefix(kindInstance) + cluster + "/")
}
