// Package pause is the process that holds an awsvpc task's network
// namespace: the one process of the task's pause container, which every
// other container of the task joins. It does nothing but wait, so that the
// namespace, its address and its MAC outlive any of the task's containers.
//
// There is no separate pause program: the pause image is built from the
// agent's own executable (agent/docker), and any binary that links this
// package becomes the pause when it is started as /pause with BERTH_PAUSE=1
// in its environment, as the image starts it. That holds for `berth`,
// `berth-agent` and the test binaries alike, which is why the switch is an
// init function and not a subcommand: a test binary has no subcommands.
package pause

import (
	"os"
	"os/signal"
	"syscall"
)

// Path and EnvVar are how the pause image starts the executable; both must
// match for the process to become the pause, so that no ordinary run of
// the agent turns into one by accident.
const (
	Path   = "/pause"
	EnvVar = "BERTH_PAUSE"
)

func init() {
	if len(os.Args) > 0 && os.Args[0] == Path && os.Getenv(EnvVar) == "1" {
		Run()
		os.Exit(0)
	}
}

// Run waits for SIGTERM or SIGINT and returns. As PID 1 of its container it
// also reaps every child that exits (a process joining the namespace with
// `docker exec` may leave some), as an init must.
func Run() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-children:
			reap()
		}
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
