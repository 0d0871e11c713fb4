package rig

import (
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kernelSourcePkg is the Debian package whose tarball the guest kernel is
// built from.
const kernelSourcePkg = "linux-source-6.1"

// kernelRecipe changes whenever the build steps change, so a cached kernel
// built by older steps is not reused.
const kernelRecipe = "tinyconfig+fragment+olddefconfig/v1"

//go:embed config/*.config
var fragments embed.FS

// Fragment returns the config fragment for arch a: common.config followed
// by the arch's own file.
func Fragment(a Arch) ([]byte, error) {
	if _, err := a.spec(); err != nil {
		return nil, err
	}
	common, err := fs.ReadFile(fragments, "config/common.config")
	if err != nil {
		return nil, fmt.Errorf("rig: fragment: %w", err)
	}
	own, err := fs.ReadFile(fragments, "config/"+string(a)+".config")
	if err != nil {
		return nil, fmt.Errorf("rig: fragment: %w", err)
	}
	return append(append(common, '\n'), own...), nil
}

// ConfigValues parses kernel config text (a .config or a fragment) into
// symbol → value; "# CONFIG_X is not set" yields "n". Later lines win, as
// they do for Kconfig.
func ConfigValues(r io.Reader) (map[string]string, error) {
	vals := make(map[string]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set"):
			sym := strings.TrimSuffix(strings.TrimPrefix(line, "# "), " is not set")
			vals[sym] = "n"
		case strings.HasPrefix(line, "CONFIG_"):
			sym, val, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			vals[sym] = val
		}
	}
	return vals, sc.Err()
}

// VerifyConfig checks that every symbol the fragment sets to y is =y in
// the final config and that every symbol it unsets is not y or m there.
// The error names each offender.
func VerifyConfig(fragment, final map[string]string) error {
	var bad []string
	for sym, want := range fragment {
		got, ok := final[sym]
		if !ok {
			got = "n"
		}
		switch want {
		case "y":
			if got != "y" {
				bad = append(bad, fmt.Sprintf("%s (want y, got %s)", sym, got))
			}
		case "n":
			if got == "y" || got == "m" {
				bad = append(bad, fmt.Sprintf("%s (want not set, got %s)", sym, got))
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%w by olddefconfig (check their dependencies): %s", ErrConfigDropped, strings.Join(bad, ", "))
	}
	return nil
}

// kernelKey is the cache key of a kernel: the recipe, the arch, the kernel
// source version and the fragment's bytes.
func kernelKey(a Arch, srcVersion string, fragment []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", kernelRecipe, a, srcVersion)
	h.Write(fragment)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Kernel is a built (or cached) guest kernel.
type Kernel struct {
	Arch      Arch
	Image     string        // path of the bootable image
	Config    string        // path of its final .config
	Key       string        // cache key
	Cached    bool          // true when no build ran
	BuildTime time.Duration // zero when cached
}

// BuildKernel returns the kernel for arch a from the cache under cacheDir,
// building it first when the fragment or the kernel source changed. The
// build runs under `nice -n 15` with one job per CPU.
func BuildKernel(ctx context.Context, a Arch, cacheDir string, log *slog.Logger) (*Kernel, error) {
	s, err := a.spec()
	if err != nil {
		return nil, err
	}
	frag, err := Fragment(a)
	if err != nil {
		return nil, err
	}
	ver, err := debVersion(ctx, kernelSourcePkg)
	if err != nil {
		return nil, err
	}
	key := kernelKey(a, ver, frag)
	outDir := filepath.Join(cacheDir, "kernel", string(a)+"-"+key)
	k := &Kernel{Arch: a, Image: filepath.Join(outDir, filepath.Base(s.imagePath)), Config: filepath.Join(outDir, "config"), Key: key}
	if fileExists(k.Image) && fileExists(k.Config) {
		k.Cached = true
		log.Info("kernel cached", "arch", a, "key", key, "image", k.Image)
		return k, nil
	}

	unlock, err := lockFile(filepath.Join(cacheDir, "build-"+string(a)+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if fileExists(k.Image) && fileExists(k.Config) { // built by another run meanwhile
		k.Cached = true
		return k, nil
	}

	start := time.Now()
	src, err := kernelSource(ctx, cacheDir, ver, log)
	if err != nil {
		return nil, err
	}
	build := filepath.Join(cacheDir, "build", string(a))
	if err := os.MkdirAll(build, 0o755); err != nil {
		return nil, fmt.Errorf("rig: kernel: %w", err)
	}
	makeArgs := []string{"-s", "-C", src, "O=" + build, "ARCH=" + string(a)}
	if !s.native() {
		makeArgs = append(makeArgs, "CROSS_COMPILE="+s.crossPrefix)
	}
	mk := func(nice bool, targets ...string) error {
		args := append(append([]string{}, makeArgs...), targets...)
		name := "make"
		if nice {
			args = append([]string{"-n", "15", "make", "-j" + strconv.Itoa(runtime.NumCPU())}, args...)
			name = "nice"
		}
		cmd := exec.CommandContext(ctx, name, args...)
		killGroup(cmd)
		if err := runLogged(cmd); err != nil {
			return fmt.Errorf("%w: %w", ErrKernelBuild, err)
		}
		return nil
	}

	log.Info("kernel config", "arch", a, "key", key)
	if err := mk(false, "tinyconfig"); err != nil {
		return nil, err
	}
	if err := appendFile(filepath.Join(build, ".config"), frag); err != nil {
		return nil, err
	}
	if err := mk(false, "olddefconfig"); err != nil {
		return nil, err
	}
	if err := verifyBuildConfig(frag, filepath.Join(build, ".config")); err != nil {
		return nil, err
	}
	log.Info("kernel build", "arch", a, "target", s.image, "jobs", runtime.NumCPU())
	if err := mk(true, s.image); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("rig: kernel: %w", err)
	}
	if err := copyFile(filepath.Join(build, ".config"), k.Config); err != nil {
		return nil, err
	}
	// The image goes last: its presence marks a complete cache entry.
	if err := copyFile(filepath.Join(build, s.imagePath), k.Image); err != nil {
		return nil, err
	}
	k.BuildTime = time.Since(start)
	log.Info("kernel built", "arch", a, "seconds", k.BuildTime.Round(time.Second).Seconds(), "image", k.Image)
	return k, nil
}

func verifyBuildConfig(frag []byte, configPath string) error {
	want, err := ConfigValues(strings.NewReader(string(frag)))
	if err != nil {
		return fmt.Errorf("rig: fragment: %w", err)
	}
	f, err := os.Open(configPath)
	if err != nil {
		return fmt.Errorf("rig: kernel config: %w", err)
	}
	defer f.Close()
	got, err := ConfigValues(f)
	if err != nil {
		return fmt.Errorf("rig: kernel config: %w", err)
	}
	return VerifyConfig(want, got)
}

// kernelSource extracts the Debian kernel source tarball once per version
// and returns the tree.
func kernelSource(ctx context.Context, cacheDir, ver string, log *slog.Logger) (string, error) {
	base := filepath.Join(cacheDir, "src", ver)
	tree := filepath.Join(base, kernelSourcePkg)
	marker := filepath.Join(base, ".extracted")
	if fileExists(marker) {
		return tree, nil
	}
	tarballs, _ := filepath.Glob("/usr/src/" + kernelSourcePkg + ".tar.*")
	if len(tarballs) == 0 {
		return "", fmt.Errorf("%w: no /usr/src/%s.tar.* (install %s)", ErrMissingPackages, kernelSourcePkg, kernelSourcePkg)
	}
	if err := os.RemoveAll(base); err != nil {
		return "", fmt.Errorf("rig: kernel source: %w", err)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("rig: kernel source: %w", err)
	}
	log.Info("extracting kernel source", "tarball", tarballs[0])
	if err := runLogged(exec.CommandContext(ctx, "tar", "-C", base, "-xf", tarballs[0])); err != nil {
		return "", fmt.Errorf("rig: kernel source: %w", err)
	}
	if !fileExists(filepath.Join(tree, "Makefile")) {
		return "", fmt.Errorf("rig: kernel source: %s has no Makefile", tree)
	}
	if err := os.WriteFile(marker, []byte(tarballs[0]+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("rig: kernel source: %w", err)
	}
	return tree, nil
}

// debVersion returns the installed version of a Debian package.
func debVersion(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return "", fmt.Errorf("%w: %s is not installed", ErrMissingPackages, pkg)
	}
	return strings.TrimSpace(string(out)), nil
}

// killGroup makes cancelling cmd's context kill its whole process group,
// so make's compiler children stop too.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 10 * time.Second
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func appendFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	if _, err := f.Write(append([]byte("\n"), b...)); err != nil {
		f.Close()
		return fmt.Errorf("rig: %w", err)
	}
	return f.Close()
}

// copyFile copies src to dst through a temporary file renamed into place.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("rig: copy: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("rig: copy: %w", err)
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Close())
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rig: copy %s: %w", src, err)
	}
	return nil
}
