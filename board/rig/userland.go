package rig

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// userlandPkgs are the Debian packages whose programs go into the guest:
// busybox for the shell and the core applets, iproute2 for `ip netns` and
// `tc netem` (busybox's own ip and tc applets cannot do either), and
// iptables for the statistic match.
var userlandPkgs = []string{"busybox-static", "iproute2", "iptables"}

// userland returns the sysroot the guest's programs come from: the host's
// own root for a native guest, otherwise the packages for the guest's
// Debian arch (and their libraries) extracted under cacheDir.
func userland(ctx context.Context, a Arch, cacheDir string, log *slog.Logger) (sysroot, error) {
	s, err := a.spec()
	if err != nil {
		return sysroot{}, err
	}
	if s.native() {
		return sysroot{dir: "/", triplet: s.triplet}, nil
	}
	root := sysroot{dir: filepath.Join(cacheDir, "userland", s.debArch, "root"), triplet: s.triplet}
	marker := filepath.Join(filepath.Dir(root.dir), ".extracted")
	if fileExists(marker) {
		return root, nil
	}
	if err := foreignArch(ctx, s.debArch, log); err != nil {
		return sysroot{}, err
	}
	pkgs, err := foreignClosure(ctx, s.debArch)
	if err != nil {
		return sysroot{}, err
	}
	debs := filepath.Join(filepath.Dir(root.dir), "debs")
	for _, d := range []string{debs, root.dir} {
		if err := os.RemoveAll(d); err != nil {
			return sysroot{}, fmt.Errorf("rig: userland: %w", err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return sysroot{}, fmt.Errorf("rig: userland: %w", err)
		}
	}
	log.Info("downloading guest userland", "arch", s.debArch, "packages", len(pkgs))
	dl := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-qq"}, pkgs...)...)
	dl.Dir = debs
	if err := runLogged(dl); err != nil {
		return sysroot{}, fmt.Errorf("%w: %w", ErrMissingPackages, err)
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, f := range files {
		if err := runLogged(exec.CommandContext(ctx, "dpkg-deb", "-x", f, root.dir)); err != nil {
			return sysroot{}, fmt.Errorf("rig: userland: %w", err)
		}
	}
	if err := os.WriteFile(marker, []byte(strings.Join(pkgs, "\n")+"\n"), 0o644); err != nil {
		return sysroot{}, fmt.Errorf("rig: userland: %w", err)
	}
	return root, nil
}

// foreignArch makes apt know the Debian arch debArch
// (dpkg --add-architecture, then apt-get update).
func foreignArch(ctx context.Context, debArch string, log *slog.Logger) error {
	out, err := exec.CommandContext(ctx, "dpkg", "--print-foreign-architectures").Output()
	if err != nil {
		return fmt.Errorf("%w: dpkg: %w", ErrMissingPackages, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if f == debArch {
			return nil
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: apt does not know arch %s (as root: dpkg --add-architecture %s; apt-get update)", ErrMissingPackages, debArch, debArch)
	}
	log.Info("adding Debian architecture", "arch", debArch)
	if err := runLogged(exec.CommandContext(ctx, "dpkg", "--add-architecture", debArch)); err != nil {
		return fmt.Errorf("%w: %w", ErrMissingPackages, err)
	}
	if err := apt(ctx, "update", "-qq"); err != nil {
		return fmt.Errorf("%w: apt-get update: %w", ErrMissingPackages, err)
	}
	return nil
}

// foreignClosure lists the userland packages for debArch and every library
// package they depend on, recursively (apt-cache depends --recurse), leaving
// out the maintainer-script machinery (debconf, dpkg) the guest never runs.
func foreignClosure(ctx context.Context, debArch string) ([]string, error) {
	args := []string{"depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances"}
	for _, p := range userlandPkgs {
		args = append(args, p+":"+debArch)
	}
	out, err := exec.CommandContext(ctx, "apt-cache", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("%w: apt-cache depends: %w", ErrMissingPackages, err)
	}
	return parseClosure(string(out), debArch), nil
}

// parseClosure picks from `apt-cache depends --recurse` output the package
// lines of arch debArch that are a userland package or a library (lib*,
// and zlib1g, the one library package not named lib*).
func parseClosure(out, debArch string) []string {
	want := make(map[string]bool)
	for _, p := range userlandPkgs {
		want[p] = true
	}
	set := make(map[string]bool)
	for _, line := range strings.Split(out, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '<' {
			continue
		}
		name, arch, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || arch != debArch {
			continue
		}
		if want[name] || strings.HasPrefix(name, "lib") || strings.HasPrefix(name, "zlib") {
			set[name+":"+arch] = true
		}
	}
	pkgs := make([]string, 0, len(set))
	for p := range set {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return pkgs
}
