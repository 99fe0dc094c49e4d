package daemon

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/awsjson"
	"github.com/berth-project/berth/internal/emulate"
	"github.com/berth-project/berth/internal/state"
)

// Emulator mode (Config.Emulate, `--emulate`): instances registered with no
// agent are served by in-process simulated agents, the state starts empty
// in a temporary directory unless a data directory is given, and
// POST /_berth/reset clears it. Instances that report no CPU or memory get
// EmulatedCPU and EmulatedMemory.
const (
	EmulatedCPU    = 4096 // CPU units, 4 vCPU
	EmulatedMemory = 8192 // MiB
	// emulatedAgentWait bounds how long RegisterContainerInstance waits for
	// the simulated agent of a new instance, so that it answers with the
	// agent connected and a RunTask right after it places.
	emulatedAgentWait = 5 * time.Second
)

// emulatorDataDir makes the temporary data directory of an emulator started
// without one; it is removed when the daemon stops.
func (d *Daemon) emulatorDataDir() error {
	dir, err := os.MkdirTemp("", "berth-emulate-")
	if err != nil {
		return fmt.Errorf("emulator data directory: %w", err)
	}
	d.cfg.DataDir = dir
	d.closers = append(d.closers, func() { os.RemoveAll(dir) }) // first in, so removed last
	return nil
}

// emulatedAgents are the simulated agents of the emulator, signing with a
// key of each instance's account.
func (d *Daemon) emulatedAgents(records *state.State, keys *auth.Keyring) *emulate.Agents {
	keyFor := func(account string) (aws.Credentials, bool) {
		c, ok := keys.KeyOf(account)
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, ok
	}
	a := emulate.New(records, "http://"+d.listener.Addr().String(), keyFor, d.cfg.Log)
	d.closers = append(d.closers, a.Close)
	return a
}

// serveReset is POST /_berth/reset: in emulator mode it deletes every
// account's state (clusters, task definitions, instances, tasks, services,
// settings) and answers {"reset":true}; anywhere else it is refused, and
// nothing is deleted. It is a test aid, as moto's and LocalStack's resets
// are, and takes no signature: an emulator is for tests on loopback.
func (d *Daemon) serveReset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", awsjson.ContentType)
	if !d.cfg.Emulate {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"POST /_berth/reset is served only by berth server --emulate and berth dev --emulate."}`)
		return
	}
	st := d.store
	if st == nil || !d.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"__type":"ServerException","message":"Berth is starting. Please try again shortly."}`)
		return
	}
	if err := st.DeleteAll(r.Context()); err != nil {
		d.cfg.Log.Error("emulator reset failed", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"__type":"ServerException","message":"Service Unavailable. Please try again later."}`)
		return
	}
	fmt.Fprint(w, `{"reset":true}`)
}
