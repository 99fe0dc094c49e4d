package daemon

import "testing"

// The default cap leaves a quarter of the open-file limit, and at least 128
// descriptors, to etcd and the rest; never less than half the limit.
func TestMaxConnectionsLeavesDescriptorsForEtcd(t *testing.T) {
	for _, tc := range []struct{ fdLimit, want int }{
		{100, 50},
		{256, 128},
		{1024, 768},
		{65536, 49152},
		{1 << 20, 786432},
	} {
		if got := maxConnectionsFor(tc.fdLimit); got != tc.want {
			t.Errorf("open-file limit %d: cap %d, want %d", tc.fdLimit, got, tc.want)
		}
	}
}
