package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/build"

	"github.com/berth-project/berth/agent/pause"
)

// The pause image is the agent's own executable FROM scratch, started as
// /pause (see agent/pause): nothing is pulled, and the image always matches
// the agent that runs it. It is tagged with a hash of the executable, so
// every build of the agent has its own and one built before is reused.
//
// A Go binary built with cgo (the default where a C compiler is installed,
// and always under -race) is linked against the C library, which a scratch
// image lacks. So the image carries, besides the executable, its ELF
// interpreter and the shared libraries it needs, found as the dynamic
// loader would find them, at the paths they have on this machine. A static
// binary (CGO_ENABLED=0) is copied alone.

// LabelPause marks the pause images the agent built, for `docker image
// prune --filter label=berth.pause` once agents of that version are gone.
const LabelPause = "berth.pause"

// pauseRepository is the pause image's name; its tag is the hash.
const pauseRepository = "berth/pause"

// PauseImage builds the pause image unless it exists, once per Runtime,
// and answers its reference.
func (r *Runtime) PauseImage(ctx context.Context) (string, error) {
	r.pauseMu.Lock()
	defer r.pauseMu.Unlock()
	if r.pauseRef != "" {
		return r.pauseRef, nil
	}
	exe, err := runningExecutable()
	if err != nil {
		return "", fmt.Errorf("find the agent's executable for the pause image: %w", err)
	}
	files, err := pauseFiles(exe)
	if err != nil {
		return "", err
	}
	sum, err := fileHash(exe)
	if err != nil {
		return "", err
	}
	ref := pauseRepository + ":" + sum[:16]
	if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
		if err := r.buildPause(ctx, ref, files); err != nil {
			return "", fmt.Errorf("build the pause image %s: %w", ref, err)
		}
	}
	r.pauseRef = ref
	return ref, nil
}

// buildPause builds the image from a tar context made of files (path in
// the image -> path on this machine).
func (r *Runtime) buildPause(ctx context.Context, ref string, files map[string]string) error {
	var libDirs []string
	for inImage := range files {
		if dir := filepath.Dir(inImage); inImage != pause.Path && !slices.Contains(libDirs, dir) {
			libDirs = append(libDirs, dir)
		}
	}
	slices.Sort(libDirs)
	dockerfile := "FROM scratch\nCOPY rootfs/ /\nENV " + pause.EnvVar + "=1\n"
	if len(libDirs) > 0 {
		dockerfile += "ENV LD_LIBRARY_PATH=" + strings.Join(libDirs, ":") + "\n"
	}
	dockerfile += `ENTRYPOINT ["` + pause.Path + `"]` + "\n"

	var buildContext bytes.Buffer
	tw := tar.NewWriter(&buildContext)
	if err := tarFile(tw, "Dockerfile", strings.NewReader(dockerfile), int64(len(dockerfile)), 0o644); err != nil {
		return err
	}
	for _, inImage := range slices.Sorted(maps.Keys(files)) {
		f, err := os.Open(files[inImage]) // follows symbolic links: the image gets the file itself
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err == nil {
			err = tarFile(tw, "rootfs"+inImage, f, fi.Size(), 0o755)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := r.cli.ImageBuild(ctx, &buildContext, build.ImageBuildOptions{
		Tags: []string{ref}, Labels: map[string]string{LabelPause: "true"}, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := pullError(resp.Body); err != nil { // a build reports its failure in the stream, as a pull does
		return err
	}
	_, err = r.cli.ImageInspect(ctx, ref)
	return err
}

// runningExecutable is the file of the running agent: /proc/self/exe,
// which stays the running binary even after an upgrade replaced the file
// at its path, else the path os.Executable names.
func runningExecutable() (string, error) {
	const self = "/proc/self/exe"
	if f, err := os.Open(self); err == nil {
		f.Close()
		return self, nil
	}
	return os.Executable()
}

func tarFile(tw *tar.Writer, name string, body io.Reader, size int64, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, body, size)
	return err
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pauseFiles lists what the pause image holds: the executable as /pause
// and, for a dynamically linked one, its interpreter and every shared
// library it needs, directly or through another library.
func pauseFiles(exe string) (map[string]string, error) {
	bin, err := elf.Open(exe)
	if err != nil {
		return nil, fmt.Errorf("the agent's executable %s is not an ELF binary, so no pause image can be made of it: %w", exe, err)
	}
	defer bin.Close()
	files := map[string]string{pause.Path: exe}
	interp := interpreter(bin)
	if interp == "" {
		return files, nil // static: the executable is all it takes
	}
	files[interp] = interp
	dirs := librarySearchPath(bin, interp)
	queue, _ := bin.ImportedLibraries()
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		path := findLibrary(name, dirs, bin.Machine)
		if path == "" {
			return nil, fmt.Errorf("the agent's executable needs %s, which is not found in %v: build it with CGO_ENABLED=0 for a pause image without libraries", name, dirs)
		}
		if filepath.Base(path) == filepath.Base(interp) {
			continue // the C library names the interpreter too
		}
		files[path] = path
		if lib, err := elf.Open(path); err == nil {
			more, _ := lib.ImportedLibraries()
			queue = append(queue, more...)
			lib.Close()
		}
	}
	return files, nil
}

// interpreter is the binary's ELF interpreter (the dynamic loader), "" for
// a static binary.
func interpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return ""
		}
		return strings.TrimRight(string(b), "\x00")
	}
	return ""
}

// librarySearchPath is where the dynamic loader would look, in its order:
// the binary's own run paths, LD_LIBRARY_PATH, then the system's
// directories (the interpreter's own, and the usual and multiarch ones).
func librarySearchPath(f *elf.File, interp string) []string {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		paths, _ := f.DynString(tag)
		for _, p := range paths {
			dirs = append(dirs, filepath.SplitList(p)...)
		}
	}
	dirs = append(dirs, filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))...)
	dirs = append(dirs, filepath.Dir(interp))
	for _, pattern := range []string{"/lib/*-linux-*", "/usr/lib/*-linux-*"} {
		multiarch, _ := filepath.Glob(pattern)
		dirs = append(dirs, multiarch...)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// findLibrary finds a library by name for the binary's machine (a 32-bit
// library of the same name may sit in another directory).
func findLibrary(name string, dirs []string, machine elf.Machine) string {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, name)
		lib, err := elf.Open(path)
		if err != nil {
			continue
		}
		ok := lib.Machine == machine
		lib.Close()
		if ok {
			return path
		}
	}
	return ""
}
