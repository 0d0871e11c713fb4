package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DebianRootTar makes sure tarball holds a minimal Debian bookworm root
// for arch (a Debian architecture; a foreign one runs its scripts under
// qemu-user through binfmt) with the packages in include, building it once
// with mmdebstrap and reusing it after. The package tests unpack it to
// install our .deb files with dpkg: the amd64 lifecycle test in a chroot,
// the arm64 boot test as the guest's root under systemd.
func DebianRootTar(ctx context.Context, tarball, arch string, include []string) error {
	if _, err := os.Stat(tarball); err == nil {
		return nil
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return fmt.Errorf("mmdebstrap not installed (apt-get install mmdebstrap arch-test) and no cached root %s", tarball)
	}
	if err := os.MkdirAll(filepath.Dir(tarball), 0o755); err != nil {
		return err
	}
	args := []string{"--architectures=" + arch, "--format=tar", "--variant=minbase"}
	if len(include) > 0 {
		args = append(args, "--include="+strings.Join(include, ","))
	}
	args = append(args, "bookworm", tarball+".tmp")
	if out, err := exec.CommandContext(ctx, "mmdebstrap", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mmdebstrap %s: %v\n%s", arch, err, out)
	}
	return os.Rename(tarball+".tmp", tarball)
}
