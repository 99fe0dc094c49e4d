// Command berth-agent is `berth agent` alone: the same flags and behaviour,
// built without the control plane, for machines that only run tasks.
package main

import (
	"fmt"
	"os"

	"github.com/berth-project/berth/agent/command"
)

func main() {
	if err := command.Run("berth-agent", os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "berth-agent:", err)
		os.Exit(1)
	}
}
