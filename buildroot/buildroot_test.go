// Package buildroot holds the BR2_EXTERNAL tree of the Tether firmware
// (issue 14 §3) and its offline checks against the Buildroot release source
// in ../shared/vendor.
package buildroot

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const release = "buildroot-2026.02.3"

// cacheDir is where the release is unpacked, outside the clone (like the
// rig's TETHER_RIG_CACHE).
func cacheDir() string {
	if d := os.Getenv("TETHER_BUILDROOT_CACHE"); d != "" {
		return d
	}
	return "/var/cache/tether-buildroot"
}

var (
	unpackOnce sync.Once
	unpacked   string
	unpackErr  string
)

// buildrootTree returns the unpacked release, unpacking the vendored tarball
// once; it skips when the tarball is not there.
func buildrootTree(t *testing.T) string {
	t.Helper()
	unpackOnce.Do(func() {
		dir := filepath.Join(cacheDir(), release)
		if _, err := os.Stat(filepath.Join(dir, "Makefile")); err == nil {
			unpacked = dir
			return
		}
		root, _ := filepath.Abs("..")
		var tarball string
		for _, c := range []string{
			os.Getenv("TETHER_BUILDROOT_TARBALL"),
			filepath.Join(root, "../shared/vendor", release+".tar.gz"),
			filepath.Join(root, "../../shared/vendor", release+".tar.gz"),
			"/work/shared/vendor/" + release + ".tar.gz",
		} {
			if c == "" {
				continue
			}
			if _, err := os.Stat(c); err == nil {
				tarball = c
				break
			}
		}
		if tarball == "" {
			unpackErr = "skip: " + release + ".tar.gz not found (../shared/vendor or TETHER_BUILDROOT_TARBALL)"
			return
		}
		if err := os.MkdirAll(cacheDir(), 0o755); err != nil {
			unpackErr = err.Error()
			return
		}
		tmp, err := os.MkdirTemp(cacheDir(), "unpack-")
		if err != nil {
			unpackErr = err.Error()
			return
		}
		if out, err := exec.Command("tar", "-C", tmp, "-xzf", tarball).CombinedOutput(); err != nil {
			unpackErr = "unpack " + tarball + ": " + err.Error() + "\n" + string(out)
			return
		}
		if err := os.Rename(filepath.Join(tmp, release), dir); err != nil {
			unpackErr = err.Error()
			return
		}
		os.RemoveAll(tmp)
		unpacked = dir
	})
	if strings.HasPrefix(unpackErr, "skip: ") {
		t.Skip(strings.TrimPrefix(unpackErr, "skip: "))
	}
	if unpackErr != "" {
		t.Fatal(unpackErr)
	}
	return unpacked
}

func external(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func defconfigs(t *testing.T) []string {
	t.Helper()
	m, _ := filepath.Glob("configs/tether_*_defconfig")
	if len(m) < 5 {
		t.Fatalf("want defconfigs for Pi 4 (64-bit), Pi 5, Pi 3, Zero 2 W and CM4; have %v", m)
	}
	return m
}

// brMake runs make in the Buildroot tree for one output directory.
func brMake(t *testing.T, br, out string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"-s", "-C", br, "O=" + out, "BR2_EXTERNAL=" + external(t)}, args...)...)
	// Buildroot refuses some environment variables (e.g. a PERL_MM_OPT,
	// CDPATH) and a parallel make from the test runner.
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=")
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, res)
	}
	return res
}

// outputs keeps one configured output directory per defconfig for the
// tests after TestDefconfigsLoad.
func outputDir(name string) string {
	return filepath.Join(cacheDir(), "output", strings.TrimSuffix(filepath.Base(name), "_defconfig"))
}

// TestDefconfigsLoad: every tether_<board>_defconfig loads with the
// external tree, and every line it sets is in the resulting .config (a
// symbol whose dependencies are not met is dropped silently by kconfig).
func TestDefconfigsLoad(t *testing.T) {
	br := buildrootTree(t)
	for _, dc := range defconfigs(t) {
		name := filepath.Base(dc)
		t.Run(strings.TrimSuffix(name, "_defconfig"), func(t *testing.T) {
			out := outputDir(dc)
			brMake(t, br, out, name)
			cfg, err := os.ReadFile(filepath.Join(out, ".config"))
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, l := range strings.Split(string(cfg), "\n") {
				have[l] = true
			}
			f, err := os.Open(dc)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			n := 0
			for sc.Scan() {
				l := sc.Text()
				if l == "" || (strings.HasPrefix(l, "#") && !strings.HasSuffix(l, " is not set")) {
					continue
				}
				n++
				if !have[l] {
					t.Errorf("%s: %q did not survive into .config", name, l)
				}
			}
			for _, want := range []string{"BR2_PACKAGE_TETHERD=y", "BR2_PACKAGE_OPUS=y", "BR2_INSTALL_LIBSTDCPP=y", "BR2_INIT_BUSYBOX=y"} {
				if !have[want] {
					t.Errorf("%s: .config lacks %s", name, want)
				}
			}
			t.Logf("%s: %d settings survive", name, n)
		})
	}
}

// TestShowInfo: Buildroot's own package metadata lists tetherd with its
// dependencies (Go on the host, opus, pkg-config).
func TestShowInfo(t *testing.T) {
	br := buildrootTree(t)
	dc := defconfigs(t)[0]
	out := outputDir(dc)
	if _, err := os.Stat(filepath.Join(out, ".config")); err != nil {
		brMake(t, br, out, filepath.Base(dc))
	}
	res := brMake(t, br, out, "show-info")
	var info map[string]struct {
		Type         string   `json:"type"`
		Version      string   `json:"version"`
		Dependencies []string `json:"dependencies"`
	}
	if err := json.Unmarshal(res, &info); err != nil {
		t.Fatalf("show-info is not JSON: %v\n%.2000s", err, res)
	}
	td, ok := info["tetherd"]
	if !ok {
		t.Fatalf("show-info has no tetherd")
	}
	for _, d := range []string{"host-go", "opus", "host-pkgconf"} {
		found := false
		for _, have := range td.Dependencies {
			found = found || have == d
		}
		if !found {
			t.Errorf("tetherd dependencies %v lack %s", td.Dependencies, d)
		}
	}
	t.Logf("tetherd %s (%s): %v", td.Version, td.Type, td.Dependencies)
}

// TestCheckPackage: Buildroot's utils/check-package finds nothing in the
// tree (it needs python3-magic and flake8 from Debian, and shellcheck).
func TestCheckPackage(t *testing.T) {
	br := buildrootTree(t)
	for _, tool := range []string{"/usr/bin/python3", "shellcheck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import magic, flake8").Run(); err != nil {
		t.Skip("python3-magic or python3-flake8 not installed")
	}
	var files []string
	err := filepath.Walk(".", func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() && !strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", append([]string{filepath.Join(br, "utils/check-package"), "-b"}, files...)...)
	res, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(res), "warning") && !strings.Contains(string(res), "0 warnings generated") {
		t.Fatalf("check-package on %d files: %v\n%s", len(files), err, res)
	}
	t.Logf("check-package: %s", strings.TrimSpace(string(res)))
}
