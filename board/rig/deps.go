package rig

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
)

// hostPackages lists the Debian packages the host needs to build and boot
// a guest of arch a: the kernel source and its build tools, qemu, and (for
// a native guest) the userland copied into the initramfs.
func hostPackages(a Arch) ([]string, error) {
	s, err := a.spec()
	if err != nil {
		return nil, err
	}
	pkgs := []string{
		kernelSourcePkg, "make", "gcc", "bc", "flex", "bison", "libelf-dev",
		"libssl-dev", "xz-utils", s.qemuPkg,
		// The native guest's userland; on the host, Options.Net's
		// per-connection forwarder (busybox nc).
		"busybox-static",
	}
	if s.native() {
		pkgs = append(pkgs, "iproute2", "iptables")
	} else {
		pkgs = append(pkgs, s.crossGCC)
	}
	return pkgs, nil
}

// missingPackages returns those of pkgs that dpkg does not list as installed.
func missingPackages(ctx context.Context, pkgs []string) []string {
	var missing []string
	for _, p := range pkgs {
		out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${db:Status-Status}", p).Output()
		if err != nil || strings.TrimSpace(string(out)) != "installed" {
			missing = append(missing, p)
		}
	}
	return missing
}

// EnsurePackages installs those Debian packages the rig needs for arch a
// that are missing; with all present it runs nothing. Installing needs root.
func EnsurePackages(ctx context.Context, a Arch, log *slog.Logger) error {
	pkgs, err := hostPackages(a)
	if err != nil {
		return err
	}
	return aptInstall(ctx, log, pkgs)
}

func aptInstall(ctx context.Context, log *slog.Logger, pkgs []string) error {
	missing := missingPackages(ctx, pkgs)
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s (run as root, or apt-get install them)", ErrMissingPackages, strings.Join(missing, " "))
	}
	log.Info("installing packages", "packages", missing)
	if err := apt(ctx, "update", "-qq"); err != nil {
		return fmt.Errorf("%w: apt-get update: %w", ErrMissingPackages, err)
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)
	if err := apt(ctx, args...); err != nil {
		return fmt.Errorf("%w: apt-get install %s: %w", ErrMissingPackages, strings.Join(missing, " "), err)
	}
	return nil
}

// apt runs apt-get non-interactively, waiting for a dpkg lock other users
// of the machine may hold.
func apt(ctx context.Context, args ...string) error {
	full := append([]string{"-o", "DPkg::Lock::Timeout=600"}, args...)
	cmd := exec.CommandContext(ctx, "apt-get", full...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return runLogged(cmd)
}

// runLogged runs cmd and, when it fails, returns its last output lines
// in the error.
func runLogged(cmd *exec.Cmd) error {
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(buf.String(), 40))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
