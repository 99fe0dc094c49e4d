package e2e

import (
	"io"
	"net/http"
	"testing"
)

// TestDebugListenServesProfilesApart checks that --debug-listen serves Go's
// profiles on its own address, and that the API's address never does.
func TestDebugListenServesProfilesApart(t *testing.T) {
	bin := buildBerth(t)
	api, debug := freePort(t), freePort(t)
	p := &process{t: t, args: []string{bin, "server", "--listen", api, "--data-dir", t.TempDir(), "--debug-listen", debug}, home: t.TempDir()}
	p.start()
	t.Cleanup(p.kill9)
	waitHealthy(t, "http://"+api, p)

	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http://" + debug + "/debug/pprof/cmdline"); code != http.StatusOK {
		t.Fatalf("profiles on the debug address: HTTP %d", code)
	}
	if code := get("http://" + api + "/debug/pprof/cmdline"); code == http.StatusOK {
		t.Fatal("the API's address serves profiles")
	}
}
