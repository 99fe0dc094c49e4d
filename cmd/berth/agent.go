package main

import "github.com/berth-project/berth/agent/command"

// runAgent is `berth agent`; berth-agent is the same without the control plane.
func runAgent(args []string) error { return command.Run("berth agent", args) }
