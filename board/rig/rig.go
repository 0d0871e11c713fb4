package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Options configure one rig run.
type Options struct {
	// Arch is the guest architecture; default X86_64.
	Arch Arch
	// Packages are go package patterns relative to the module root
	// ("./gpio", "./media/..."). Empty means every package with a test
	// file carrying the rig build tag.
	Packages []string
	// Run is passed to each guest test binary as -test.run.
	Run string
	// Timeout bounds the boot and every guest test together (the kernel
	// build is bounded by ctx alone); default 10 minutes.
	Timeout time.Duration
	// ModuleDir is the Go module root; default: found from the working
	// directory.
	ModuleDir string
	// CacheDir holds kernel sources, builds and userlands; default
	// $TETHER_RIG_CACHE, else <module>/board/rig/.cache (ignored by git).
	CacheDir string
	// NoInstall leaves missing Debian packages alone instead of running
	// apt-get for them.
	NoInstall bool
	// Console, when set, receives the guest's serial console as it arrives.
	Console io.Writer
	// Net, when set, gives the guest a NIC reaching only the listed
	// forwards to this machine's loopback (arm64 only).
	Net *Network
	// Log receives progress; default slog.Default().
	Log *slog.Logger
}

// Result is one rig run: timings, and what every guest test binary reported.
type Result struct {
	Arch         Arch
	Kernel       *Kernel
	Packages     []PackageResult
	Init         string        // the guest's RIG-INIT fields
	Console      string        // the whole serial console
	KernelTime   time.Duration // kernel build; zero when cached
	TestBuild    time.Duration // go test -c of every package
	InitramfsLen int64         // bytes
	BootTime     time.Duration // qemu start → guest init running
	GuestTime    time.Duration // guest init running → every test binary done
}

// Passed reports whether every guest test binary ran and exited 0.
func (r *Result) Passed() bool {
	if r == nil || len(r.Packages) == 0 {
		return false
	}
	for _, p := range r.Packages {
		if !p.Passed() {
			return false
		}
	}
	return true
}

// Failed returns the guest test binaries that did not exit 0.
func (r *Result) Failed() []PackageResult {
	var out []PackageResult
	for _, p := range r.Packages {
		if !p.Passed() {
			out = append(out, p)
		}
	}
	return out
}

// Run builds (or takes from the cache) the kernel for opt.Arch, builds the
// guest test binaries and the initramfs, boots the guest under qemu and
// returns what every binary reported. A guest test failure is not an
// error: check Result.Passed. An error means the rig itself could not run
// to the end; the Result then holds whatever was gathered.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	log := opt.Log.With("component", "rig")
	s, err := opt.Arch.spec()
	if err != nil {
		return nil, err
	}
	res := &Result{Arch: opt.Arch}
	netArgs, err := qemuNetArgs(opt.Arch, opt.Net)
	if err != nil {
		return res, err
	}

	if !opt.NoInstall {
		if err := EnsurePackages(ctx, opt.Arch, log); err != nil {
			return res, err
		}
	}
	k, err := BuildKernel(ctx, opt.Arch, opt.CacheDir, log)
	if err != nil {
		return res, err
	}
	res.Kernel, res.KernelTime = k, k.BuildTime

	root, err := userland(ctx, opt.Arch, opt.CacheDir, log)
	if err != nil {
		return res, err
	}

	goTool := goBinary()
	pkgs, err := listTestPkgs(ctx, goTool, opt.ModuleDir, patternsOrAll(opt.Packages), len(opt.Packages) == 0)
	if err != nil {
		return res, err
	}
	work, err := os.MkdirTemp(opt.CacheDir, "run-")
	if err != nil {
		return res, fmt.Errorf("rig: %w", err)
	}
	defer os.RemoveAll(work)
	t0 := time.Now()
	if err := buildTestBinaries(ctx, goTool, opt.ModuleDir, work, s.goarch, pkgs); err != nil {
		return res, err
	}
	res.TestBuild = time.Since(t0)

	initrd := filepath.Join(work, "initramfs.cpio")
	// Each binary's own -test.timeout leaves a minute for the boot, so a
	// hung test prints its goroutines instead of being cut off by qemu's
	// kill.
	perBinary := opt.Timeout - time.Minute
	if perBinary < time.Minute {
		perBinary = opt.Timeout
	}
	plan := guestPlan{pkgs: pkgs, run: opt.Run, timeout: perBinary.String()}
	if err := writeInitramfs(initrd, root, plan); err != nil {
		return res, err
	}
	if fi, err := os.Stat(initrd); err == nil {
		res.InitramfsLen = fi.Size()
	}
	log.Info("booting", "arch", opt.Arch, "kernel", k.Image, "initramfs_mb", res.InitramfsLen>>20, "packages", len(pkgs))

	br, err := boot(ctx, s, k.Image, initrd, opt.Timeout, opt.Console, netArgs)
	res.BootTime, res.GuestTime = br.bootTime, br.testTime
	res.Init, res.Console = br.report.Init, br.report.Console
	byName := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		byName[p.Name] = p.ImportPath
	}
	for _, p := range br.report.Packages {
		p.ImportPath = byName[p.Name]
		res.Packages = append(res.Packages, p)
	}
	log.Info("guest finished", "arch", opt.Arch, "boot_s", res.BootTime.Seconds(), "tests_s", res.GuestTime.Seconds(),
		"passed", res.Passed(), "err", err)
	return res, err
}

func (o *Options) defaults() error {
	if o.Arch == "" {
		o.Arch = X86_64
	}
	a, err := ParseArch(string(o.Arch))
	if err != nil {
		return err
	}
	o.Arch = a
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ModuleDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("rig: %w", err)
		}
		if o.ModuleDir, err = moduleRoot(wd); err != nil {
			return err
		}
	}
	if o.CacheDir == "" {
		o.CacheDir = os.Getenv("TETHER_RIG_CACHE")
	}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(o.ModuleDir, "board", "rig", ".cache")
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return fmt.Errorf("rig: cache: %w", err)
	}
	return nil
}

// moduleRoot walks up from dir to the directory holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if fileExists(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("rig: no go.mod above " + dir)
		}
	}
}

func patternsOrAll(p []string) []string {
	if len(p) == 0 {
		return []string{"./..."}
	}
	return p
}

// goBinary is the go command: the one on PATH (go test puts its own
// GOROOT/bin there).
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
