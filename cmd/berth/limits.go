package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/berth-project/berth/internal/daemon"
)

// maxConnectionsFlag defines --max-connections on fs, its default taken
// from the open-file limit so that -h shows the number in effect.
func maxConnectionsFlag(fs *flag.FlagSet) (*int, error) {
	def := daemon.DefaultMaxConnections()
	if v, ok := os.LookupEnv("BERTH_MAX_CONNECTIONS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("BERTH_MAX_CONNECTIONS: %q is not a number", v)
		}
		def = n
	}
	return fs.Int("max-connections", def, "most connections the API listener holds open at once, agents' websockets included; "+
		"more wait to be accepted. The default leaves a quarter of the open-file limit (RLIMIT_NOFILE), at least 128 descriptors, "+
		"to etcd and the rest; 0 or less: no cap (BERTH_MAX_CONNECTIONS)"), nil
}

// maxConnections maps the flag to daemon.Config, where zero is the default
// and a negative number no cap.
func maxConnections(flagValue int) int {
	if flagValue <= 0 {
		return -1
	}
	return flagValue
}
