// Package packaging turns the tree into what a shop installs (issue 14):
// static release binaries for the boards we ship (cgo on: openh264 and
// libopus inside), release archives, and Debian packages built with nfpm.
// cmd/tether-dist drives it; `make dist` runs that.
//
// Why static: one tetherd binary must run on Raspberry Pi OS (glibc) and on
// a Buildroot image whatever its C library, and the board must not need a
// libopus or libstdc++ of a matching version. Go's netgo and osusergo tags
// keep glibc's NSS (which cannot be linked statically) out of it.
package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Files holds the units, udev rules, maintainer scripts, man pages and
// READMEs that archives and packages carry.
//
//go:embed *.service *.rules *.8 *.md copyright tether-hub.default deb
var Files embed.FS

// ErrBuild wraps every failure of a build step.
var ErrBuild = errors.New("dist")

// Target is one architecture we ship.
type Target struct {
	GOARCH, GOARM string
	Deb           string // Debian architecture
	Triplet       string // multiarch triplet, also the cross compiler's prefix
}

// Targets: Pi 3/4/5/CM4/Zero 2 W on a 64-bit OS, the same on 32-bit
// Raspberry Pi OS (armv7), and PCs (the hub, test rigs).
var Targets = []Target{
	{GOARCH: "arm64", Deb: "arm64", Triplet: "aarch64-linux-gnu"},
	{GOARCH: "arm", GOARM: "7", Deb: "armhf", Triplet: "arm-linux-gnueabihf"},
	{GOARCH: "amd64", Deb: "amd64", Triplet: "x86_64-linux-gnu"},
}

// TargetByName finds a target by Debian or Go architecture name.
func TargetByName(name string) (Target, error) {
	for _, t := range Targets {
		if t.Deb == name || t.GOARCH == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("%w: unknown architecture %q", ErrBuild, name)
}

// Builder builds from the module at Root into Out.
type Builder struct {
	Root    string    // the module root (go.mod)
	Out     string    // output directory
	Version string    // stamped into internal/version.Version
	MTime   time.Time // file times in archives and packages (the commit's time)
	Log     io.Writer // build commands' output
}

// VersionVar is the variable -ldflags -X stamps (internal/version).
const VersionVar = "tether/internal/version.Version"

// Binaries are the paths Build wrote.
type Binaries struct{ Tetherd, Hub string }

// Build compiles tetherd (cgo, static: openh264 from mediadevices' static
// libraries, libopus.a and libspeexdsp.a from the target's libopus-dev and
// libspeexdsp-dev) and tether-hub (no
// cgo needed; refuses to build without the customer page) for t.
func (b *Builder) Build(ctx context.Context, t Target) (Binaries, error) {
	dir := filepath.Join(b.Out, "bin", t.Deb)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if _, err := os.Stat(filepath.Join(b.Root, "signaling/hub/web/dist/index.html")); err != nil {
		return Binaries{}, fmt.Errorf("%w: the customer page is not built (signaling/hub/web/dist/index.html): run `make web` first; a hub without it is not shipped", ErrBuild)
	}
	pc, err := b.staticPC(t)
	if err != nil {
		return Binaries{}, err
	}
	ld := "-s -w -X " + VersionVar + "=" + b.Version
	bins := Binaries{Tetherd: filepath.Join(dir, "tetherd"), Hub: filepath.Join(dir, "tether-hub")}
	env := []string{"GOOS=linux", "GOARCH=" + t.GOARCH, "GOARM=" + t.GOARM}
	cgo := append(env, "CGO_ENABLED=1", "CC="+t.Triplet+"-gcc", "CXX="+t.Triplet+"-g++",
		"PKG_CONFIG_LIBDIR="+pc, "PKG_CONFIG_PATH=")
	if err := b.goBuild(ctx, cgo, bins.Tetherd, "./cmd/tetherd", "netgo,osusergo",
		ld+` -linkmode external -extldflags "-static"`); err != nil {
		return Binaries{}, err
	}
	// The C toolchain leaves its .comment section behind -s (lintian:
	// binary-has-unneeded-section).
	if out, err := exec.CommandContext(ctx, t.Triplet+"-objcopy", "--remove-section=.comment", bins.Tetherd).CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("%w: objcopy %s: %v: %s", ErrBuild, bins.Tetherd, err, out)
	}
	if err := b.goBuild(ctx, append(env, "CGO_ENABLED=0"), bins.Hub, "./cmd/tether-hub", "", ld); err != nil {
		return Binaries{}, err
	}
	return bins, nil
}

// staticPC writes a pkg-config directory whose opus.pc and speexdsp.pc
// link the target's libopus.a and libspeexdsp.a (the speaker's echo
// canceller, issue 15), so `#cgo pkg-config: opus` and `speexdsp` link
// them statically.
func (b *Builder) staticPC(t Target) (string, error) {
	dir := filepath.Join(b.Out, "pkgconfig", t.Deb)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBuild, err)
	}
	for _, l := range []struct{ name, archive, deb, cflags string }{
		{"opus", "libopus.a", "libopus-dev", "-I/usr/include/opus"},
		{"speexdsp", "libspeexdsp.a", "libspeexdsp-dev", ""},
	} {
		lib := filepath.Join("/usr/lib", t.Triplet, l.archive)
		if _, err := os.Stat(lib); err != nil {
			return "", fmt.Errorf("%w: %s missing: install %s:%s (packaging/install-deps)", ErrBuild, lib, l.deb, t.Deb)
		}
		pc := fmt.Sprintf("Name: %s\nDescription: %s, static (tether dist)\nVersion: 1\nCflags: %s\nLibs: %s -lm\n",
			l.name, l.archive, l.cflags, lib)
		if err := os.WriteFile(filepath.Join(dir, l.name+".pc"), []byte(pc), 0o644); err != nil {
			return "", fmt.Errorf("%w: %v", ErrBuild, err)
		}
	}
	return dir, nil
}

func (b *Builder) goBuild(ctx context.Context, env []string, out, pkg, tags, ldflags string) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-o", out, "-ldflags", ldflags}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = b.Root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = b.Log, b.Log
	fmt.Fprintf(b.Log, "%s go %s\n", strings.Join(env, " "), strings.Join(cmd.Args[1:], " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: build %s (%s): %v", ErrBuild, pkg, strings.Join(env, " "), err)
	}
	return nil
}

// entry is one file of an archive or package.
type entry struct {
	name string // path inside the archive, or absolute destination in a package
	data []byte
	mode int64
}

func (b *Builder) file(name string) []byte {
	d, err := Files.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return bytes.ReplaceAll(d, []byte("{{VERSION}}"), []byte(b.Version))
}

// Archives writes tetherd_<v>_linux_<deb>.tar.gz and
// tether-hub_<v>_linux_<deb>.tar.gz and returns their paths.
func (b *Builder) Archives(t Target, bins Binaries, exampleConfig []byte) ([]string, error) {
	readme := func(name string) []byte {
		return bytes.ReplaceAll(b.file(name), []byte("{{ARCH}}"), []byte(t.GOARCH+t.armSuffix()))
	}
	td, err := os.ReadFile(bins.Tetherd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	hb, err := os.ReadFile(bins.Hub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	sets := []struct {
		name  string
		files []entry
	}{
		{"tetherd", []entry{
			{"tetherd", td, 0o755},
			{"tetherd.service", b.file("tetherd.service"), 0o644},
			{"tetherd.json", exampleConfig, 0o644},
			{"60-tether.rules", b.file("60-tether.rules"), 0o644},
			{"README.md", readme("README.tetherd.md"), 0o644},
		}},
		{"tether-hub", []entry{
			{"tether-hub", hb, 0o755},
			{"tether-hub.service", b.file("tether-hub.service"), 0o644},
			{"tether-hub.default", b.file("tether-hub.default"), 0o644},
			{"README.md", readme("README.tether-hub.md"), 0o644},
		}},
	}
	var out []string
	for _, s := range sets {
		base := fmt.Sprintf("%s_%s_linux_%s", s.name, b.Version, t.Deb)
		path := filepath.Join(b.Out, base+".tar.gz")
		if err := b.writeTarGz(path, base, s.files); err != nil {
			return nil, err
		}
		out = append(out, path)
	}
	return out, nil
}

func (t Target) armSuffix() string {
	if t.GOARM != "" {
		return "v" + t.GOARM
	}
	return ""
}

func (b *Builder) writeTarGz(path, dir string, files []entry) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Uname, h.Gname, h.Format = b.MTime, "root", "root", tar.FormatPAX
		return tw.WriteHeader(h)
	}
	if err := hdr(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return fmt.Errorf("%w: %v", ErrBuild, err)
	}
	for _, f := range files {
		if err := hdr(&tar.Header{Name: dir + "/" + f.name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return fmt.Errorf("%w: %v", ErrBuild, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("%w: %v", ErrBuild, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrBuild, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// gz compresses like dh_compress (maximum, no name or time in the header),
// as lintian expects of changelogs and man pages.
func gz(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}
