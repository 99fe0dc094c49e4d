package docker

import (
	"debug/elf"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/agent/pause"
)

// TestThePauseImageHoldsWhatTheExecutableNeeds lists the pause image's
// files for this test binary: the binary as /pause and, when it is linked
// dynamically (cgo, -race), its loader and the C library, each an ELF file
// of the binary's machine at its path on this machine.
func TestThePauseImageHoldsWhatTheExecutableNeeds(t *testing.T) {
	exe, err := runningExecutable()
	if err != nil {
		t.Fatal(err)
	}
	files, err := pauseFiles(exe)
	if err != nil {
		t.Fatal(err)
	}
	if files[pause.Path] != exe {
		t.Fatalf("%s is %q; want the executable %s", pause.Path, files[pause.Path], exe)
	}
	bin, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	interp := interpreter(bin)
	if interp == "" {
		if len(files) != 1 {
			t.Fatalf("a static executable goes alone; files %v", files)
		}
		return
	}
	libc := false
	for inImage, onHost := range files {
		if inImage == pause.Path {
			continue
		}
		if inImage != onHost || !filepath.IsAbs(inImage) {
			t.Errorf("%s is taken from %s; want it at its own path", inImage, onHost)
		}
		f, err := elf.Open(onHost)
		if err != nil {
			t.Errorf("%s: %v", onHost, err)
			continue
		}
		if f.Machine != bin.Machine {
			t.Errorf("%s is for %v, not %v", onHost, f.Machine, bin.Machine)
		}
		f.Close()
		libc = libc || strings.HasPrefix(filepath.Base(onHost), "libc.")
	}
	if _, ok := files[interp]; !ok || !libc {
		t.Fatalf("files %v; want the loader %s and the C library", files, interp)
	}
}
