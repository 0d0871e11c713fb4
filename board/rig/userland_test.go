package rig

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseClosure(t *testing.T) {
	out := "busybox-static:arm64\niproute2:arm64\n  Depends: libc6\ndebconf\ncdebconf:arm64\nlibc6:arm64\n" +
		"libcap2-bin\nlibmnl0:arm64\nzlib1g:arm64\nlibc6:arm64\n<debconf-2.0:arm64>\niptables:arm64\ntar:arm64\n"
	got := parseClosure(out, "arm64")
	want := []string{"busybox-static:arm64", "iproute2:arm64", "iptables:arm64", "libc6:arm64", "libmnl0:arm64", "zlib1g:arm64"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSysrootResolve(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644)
	}
	mk("usr/lib/t/libz.so.1.2")
	os.Symlink("usr/lib", filepath.Join(dir, "lib"))                      // usrmerge-style relative link
	os.Symlink("libz.so.1.2", filepath.Join(dir, "usr/lib/t/libz.so.1"))  // relative in-dir link
	os.Symlink("/usr/lib/t/libz.so.1", filepath.Join(dir, "usr/lib/abs")) // absolute: stays inside the root
	os.Symlink("/etc/passwd", filepath.Join(dir, "usr/lib/escape"))       // must not reach the host's file
	os.Symlink("loop", filepath.Join(dir, "usr/lib/loop"))
	r := sysroot{dir: dir, triplet: "t"}
	for in, want := range map[string]string{
		"/lib/t/libz.so.1":  "/usr/lib/t/libz.so.1.2",
		"/usr/lib/abs":      "/usr/lib/t/libz.so.1.2",
		"lib/t/libz.so.1.2": "/usr/lib/t/libz.so.1.2",
	} {
		host, guest, err := r.resolve(in)
		if err != nil || guest != want || host != filepath.Join(dir, want) {
			t.Errorf("resolve(%q) = %q, %q, %v; want guest %q", in, host, guest, err, want)
		}
	}
	for _, bad := range []string{"/usr/lib/escape", "/usr/lib/loop", "/missing"} {
		if _, _, err := r.resolve(bad); err == nil {
			t.Errorf("resolve(%q) succeeded", bad)
		}
	}
	if p, err := r.findLib("libz.so.1", nil); err != nil || p != "/lib/t/libz.so.1" {
		t.Errorf("findLib = %q, %v", p, err)
	}
	if _, err := r.findLib("libnone.so", nil); !errors.Is(err, ErrLibNotFound) {
		t.Errorf("findLib(libnone) error %v", err)
	}
}

// TestHostClosure runs the library walk on the host's own iproute2, as the
// x86_64 rig does.
func TestHostClosure(t *testing.T) {
	s, _ := X86_64.spec()
	if !s.native() {
		t.Skip("host is not x86_64")
	}
	r := sysroot{dir: "/", triplet: s.triplet}
	progs, err := guestPrograms(r)
	if err != nil {
		t.Skipf("host lacks the guest userland (apt-get install busybox-static iproute2 iptables): %v", err)
	}
	var start []string
	for _, p := range progs {
		start = append(start, p.found)
	}
	files, err := r.closure(start)
	if err != nil {
		t.Fatal(err)
	}
	var hasLibc, hasInterp, hasXtables bool
	for _, f := range files {
		switch filepath.Base(f) {
		case "libc.so.6":
			hasLibc = true
		case "ld-linux-x86-64.so.2":
			hasInterp = true
		case "libxtables.so.12":
			hasXtables = true
		}
	}
	if !hasLibc || !hasInterp || !hasXtables {
		t.Errorf("closure lacks libc (%v), the loader (%v) or libxtables (%v): %v", hasLibc, hasInterp, hasXtables, files)
	}
	ldd, err := exec.LookPath("ldd")
	if err != nil {
		return
	}
	// Every library ldd names for ip and iptables is in the closure too.
	base := map[string]bool{}
	for _, f := range files {
		base[filepath.Base(f)] = true
	}
	for _, p := range progs[1:4] {
		out, err := exec.CommandContext(context.Background(), ldd, p.found).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", p.found, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			name, _, ok := strings.Cut(strings.TrimSpace(line), " => ")
			if ok && !base[name] {
				t.Errorf("ldd %s names %s; the closure lacks it", p.found, name)
			}
		}
	}
}

func TestHasBuildTag(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.go": "//go:build rig && linux\n\npackage x\n",
		"b.go": "//go:build linux\n\npackage x\n",
		"c.go": "// comment\n\n//go:build !linux || rig\n\npackage x\n",
		"d.go": "package x\n\n//go:build rig\n",
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	for name, want := range map[string]bool{"a.go": true, "b.go": false, "c.go": true, "d.go": false, "none.go": false} {
		if got := hasBuildTag(filepath.Join(dir, name), "rig"); got != want {
			t.Errorf("hasBuildTag(%s) = %v, want %v", name, got, want)
		}
	}
}
