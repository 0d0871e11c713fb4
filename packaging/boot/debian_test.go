package boot

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tether/board/rig"
	"tether/packaging"
)

// debianCache keeps what the Debian boot downloads and builds once: the
// arm64 root (mmdebstrap, ~250 MB) and Debian's arm64 kernel package.
func debianCache() string {
	if d := os.Getenv("TETHER_DIST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/tether-dist"
}

// The guest's root holds systemd as init, udev (the video and audio groups
// of /dev/video* and /dev/snd/*), kmod (vivid and snd-aloop from Debian's
// kernel), iproute2, and what our package's scripts use.
var debianPackages = []string{"systemd", "systemd-sysv", "udev", "kmod", "iproute2", "adduser", "passwd", "init-system-helpers"}

// The modules the guest needs from Debian's kernel (everything else there
// is built in or unused): the virtio-mmio NIC of the rig's network,
// vivid's camera, snd-aloop's sound card, and autofs/configfs that systemd
// mounts. modprobe --show-depends adds their dependencies.
var debianModules = []string{"virtio_mmio", "virtio_net", "vivid", "snd-aloop", "autofs4", "configfs"}

// Units of a stock Debian that only slow a TCG boot down, and the gettys
// that would share the serial console with the test's output.
var debianMasked = []string{"apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
	"fstrim.timer", "dpkg-db-backup.timer", "serial-getty@ttyAMA0.service", "getty@tty1.service", "getty-static.service",
	"systemd-timesyncd.service"}

// TestBootSystemdArm64 boots the Debian package under systemd (issue 14
// §4, second half): an arm64 Debian bookworm root assembled here with
// mmdebstrap (qemu-user runs its scripts), our tetherd arm64 .deb
// installed in it with dpkg, Debian's own arm64 kernel (its modules for
// the NIC, vivid and snd-aloop), the whole root packed as the initramfs,
// booted under qemu-system-aarch64 (TCG) with systemd as PID 1. The guest
// runs TestBootSystemd (systemd_rig_test.go) against the hub and the
// Chromium customer on this machine (startHostHub, as dist-boot). Long (a
// TCG systemd boot takes minutes): TETHER_DEBIAN_BOOT=1 and TETHER_DIST
// (`make debian-boot`).
func TestBootSystemdArm64(t *testing.T) {
	dist := os.Getenv("TETHER_DIST")
	if dist == "" || os.Getenv("TETHER_DEBIAN_BOOT") == "" {
		t.Skip("needs TETHER_DIST (make dist) and TETHER_DEBIAN_BOOT=1: `make debian-boot` runs it")
	}
	if os.Geteuid() != 0 {
		t.Skip("assembling the Debian root needs root (chroot, device nodes)")
	}
	for _, tool := range []string{"qemu-system-aarch64", "cpio", "dpkg-deb", "apt-get"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "tetherd_*_arm64.deb"))
	if len(debs) != 1 {
		t.Fatalf("want one tetherd arm64 package in %s, have %v", dist, debs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	t0 := time.Now()
	tarball := filepath.Join(debianCache(), "bookworm-systemd-arm64.tar")
	if err := packaging.DebianRootTar(ctx, tarball, "arm64", debianPackages); err != nil {
		t.Fatal(err)
	}
	kernelDir, kver := debianKernel(t, ctx)
	work := t.TempDir()
	root := filepath.Join(work, "root")
	run(t, "", "mkdir", "-p", root)
	run(t, "", "tar", "-C", root, "-xf", tarball)
	chroot := func(args ...string) string { return run(t, "", "chroot", append([]string{root}, args...)...) }

	// Our package, as a shop installs it.
	b, err := os.ReadFile(debs[0])
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "tmp", "tetherd.deb"), b, 0o644)
	t.Logf("dpkg -i %s:\n%s", filepath.Base(debs[0]), chroot("dpkg", "-i", "/tmp/tetherd.deb"))
	os.Remove(filepath.Join(root, "tmp", "tetherd.deb"))

	// The kernel's modules the guest loads, with their dependencies.
	mods := filepath.Join(root, "tmp", "kmods")
	run(t, "", "mkdir", "-p", filepath.Join(mods, "lib", "modules"))
	run(t, "", "cp", "-a", filepath.Join(kernelDir, "lib", "modules", kver), filepath.Join(mods, "lib", "modules"))
	chroot("depmod", "-b", "/tmp/kmods", kver)
	need := map[string]bool{}
	for _, m := range debianModules {
		for _, l := range strings.Split(chroot("modprobe", "-d", "/tmp/kmods", "-S", kver, "--show-depends", m), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "insmod" {
				need[strings.TrimPrefix(f[1], "/tmp/kmods")] = true
			}
		}
	}
	for p := range need {
		run(t, "", "install", "-D", "-m", "0644", filepath.Join(mods, p), filepath.Join(root, p))
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		run(t, "", "cp", filepath.Join(kernelDir, "lib", "modules", kver, f), filepath.Join(root, "lib", "modules", kver, f))
	}
	run(t, "", "rm", "-rf", mods)
	chroot("depmod", kver)

	// What this machine's test adds: vivid (one capture node, so it is
	// /dev/video0) and snd-aloop loaded at boot; the guest check, run once
	// the system is up, printing to the serial console and powering off.
	network, netFile, cust := startHostHub(t, dist)
	write(t, filepath.Join(root, "etc/tether-boot/net"), []byte(netFile), 0o600)
	write(t, filepath.Join(root, "etc/modules-load.d/tether-boot.conf"), []byte("vivid\nsnd-aloop\n"), 0o644)
	write(t, filepath.Join(root, "etc/modprobe.d/tether-boot.conf"), []byte("options vivid n_devs=1 node_types=0x1 input_types=0x1\n"), 0o644)
	// The shop's edit of the conffile: a small picture, as TCG encodes
	// it in software on a loaded machine. The unit stays as shipped
	// (WatchdogSec=30: shorter watchdogs starve under TCG).
	write(t, filepath.Join(root, "etc/tether/tetherd.json"), []byte(`{"camera": "/dev/video0", "width": 320, "height": 240, "fps": 10}`+"\n"), 0o644)
	write(t, filepath.Join(root, "etc/hostname"), []byte("tether-debian\n"), 0o644)
	guestBin := filepath.Join(root, "usr/local/bin/boot.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-tags", "rig", "-o", guestBin, ".")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the guest test: %v\n%s", err, out)
	}
	write(t, filepath.Join(root, "etc/systemd/system/tether-boot-check.service"), []byte(`[Unit]
Description=issue 14 boot check (packaging/boot TestBootSystemd)
After=multi-user.target tetherd.service
[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyAMA0
WorkingDirectory=/tmp
ExecStart=/bin/sh -c '/usr/local/bin/boot.test -test.v -test.timeout=25m -test.run "^TestBootSystemd$$"; echo "SYSTEMD-CHECK exit=$$?"; systemctl poweroff -ff'
[Install]
WantedBy=multi-user.target
`), 0o644)
	chroot("systemctl", "enable", "tether-boot-check.service")
	chroot(append([]string{"systemctl", "mask"}, debianMasked...)...)
	run(t, "", "ln", "-sf", "/lib/systemd/systemd", filepath.Join(root, "init"))
	for _, d := range []string{"usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "var/cache/apt", "var/lib/apt/lists"} {
		run(t, "", "sh", "-c", "rm -rf "+filepath.Join(root, d)+"/*")
	}
	initrd := filepath.Join(work, "root.cpio")
	run(t, "", "sh", "-c", "cd "+root+" && find . | cpio -o -H newc --quiet > "+initrd)
	fi, _ := os.Stat(initrd)
	t.Logf("Debian arm64 root with tetherd packed in %s (%d MB, %d kernel modules)", time.Since(t0).Round(time.Second), fi.Size()>>20, len(need))

	netArgs, err := rig.QemuNetArgs(network)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-accel", "tcg", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
		"-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", filepath.Join(kernelDir, "boot", "vmlinuz-"+kver), "-initrd", initrd,
		"-append", "console=ttyAMA0 panic=-1 rdinit=/init systemd.show_status=0"}, netArgs...)
	qctx, qcancel := context.WithTimeout(ctx, 30*time.Minute)
	defer qcancel()
	q := exec.CommandContext(qctx, "qemu-system-aarch64", args...)
	q.WaitDelay = 5 * time.Second
	out, err := q.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	q.Stderr = os.Stderr
	start := time.Now()
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	var console []string
	exit := -1
	marker := regexp.MustCompile(`SYSTEMD-CHECK exit=(\d+)`)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		console = append(console, l)
		if testing.Verbose() {
			fmt.Fprintln(os.Stderr, l)
		}
		if strings.Contains(l, "BOOT-") || strings.Contains(l, "--- ") {
			t.Logf("[%s] %s", time.Since(start).Round(100*time.Millisecond), strings.TrimSpace(l))
		}
		if m := marker.FindStringSubmatch(l); m != nil {
			fmt.Sscan(m[1], &exit)
		}
	}
	qerr := q.Wait()
	for _, l := range cust.log {
		t.Logf("customer: %s", l)
	}
	if exit != 0 {
		t.Fatalf("guest check exit %d (qemu: %v); console tail:\n%s", exit, qerr, tailOf(strings.Join(console, "\n"), 150))
	}
}

// debianKernel downloads (once) and unpacks Debian's arm64 kernel package,
// returning the unpacked tree and the kernel version.
func debianKernel(t *testing.T, ctx context.Context) (string, string) {
	t.Helper()
	dir := filepath.Join(debianCache(), "kernel-arm64")
	debs, _ := filepath.Glob(filepath.Join(dir, "linux-image-*-arm64_*_arm64.deb"))
	if len(debs) == 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The versioned package behind the linux-image-arm64 metapackage.
		dep := ""
		for _, l := range strings.Split(run(t, "", "apt-cache", "depends", "linux-image-arm64:arm64"), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
				dep = f[1]
			}
		}
		if dep == "" {
			t.Skip("no linux-image-arm64:arm64 in apt (dpkg --add-architecture arm64; apt-get update)")
		}
		cmd := exec.CommandContext(ctx, "apt-get", "download", dep)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %s: %v\n%s", dep, err, out)
		}
		debs, _ = filepath.Glob(filepath.Join(dir, "linux-image-*-arm64_*_arm64.deb"))
		if len(debs) == 0 {
			t.Fatalf("apt-get download %s left no package in %s", dep, dir)
		}
	}
	tree := filepath.Join(dir, "tree")
	if _, err := os.Stat(tree); err != nil {
		run(t, "", "dpkg-deb", "-x", debs[0], tree+".tmp")
		if err := os.Rename(tree+".tmp", tree); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := filepath.Glob(filepath.Join(tree, "boot", "vmlinuz-*"))
	if len(k) != 1 {
		t.Fatalf("kernel image in %s: %v", tree, k)
	}
	return tree, strings.TrimPrefix(filepath.Base(k[0]), "vmlinuz-")
}

func write(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}
