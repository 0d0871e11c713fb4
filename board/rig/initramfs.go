package rig

import (
	_ "embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// guestInit is the guest's /init: it mounts the pseudo filesystems, runs
// each test binary and reports on the serial console in the lines
// console.go parses, then reboots (qemu runs with -no-reboot, so it exits).
//
//go:embed init.sh
var guestInit string

// guestPlan is what the init reads: which binaries to run and how.
type guestPlan struct {
	pkgs    []testPkg
	run     string // -test.run regex, may be empty
	timeout string // -test.timeout for each binary, e.g. "8m"
}

// writeInitramfs writes the guest's initramfs to dst: busybox, ip, tc and
// iptables with their libraries from root, the init script, and the test
// binaries with their packages' testdata directories.
func writeInitramfs(dst string, root sysroot, plan guestPlan) error {
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("rig: initramfs: %w", err)
	}
	w := newCPIOWriter(f)
	err = fillInitramfs(w, root, plan)
	if err == nil {
		err = w.Close()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("rig: initramfs: %w", cerr)
	}
	return err
}

func fillInitramfs(w *cpioWriter, root sysroot, plan guestPlan) error {
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/etc", "/root", "/sbin", "/usr/bin", "/mnt"} {
		if err := w.Dir(d, 0o755); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console for init's stdio before devtmpfs is
	// mounted, so the node must be in the archive.
	if err := w.CharDev("/dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := w.CharDev("/dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	if err := w.Symlink("/var/run", "../run"); err != nil {
		return err
	}
	if err := addBytes(w, "/init", 0o755, []byte(guestInit)); err != nil {
		return err
	}
	etc := map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"/etc/group":  "root:x:0:\n",
		"/etc/hosts":  "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
	}
	for name, body := range etc {
		if err := addBytes(w, name, 0o644, []byte(body)); err != nil {
			return err
		}
	}
	// iptables resolves -p udp through /etc/protocols when it is there.
	if b, err := os.ReadFile("/etc/protocols"); err == nil {
		if err := addBytes(w, "/etc/protocols", 0o644, b); err != nil {
			return err
		}
	}

	progs, err := guestPrograms(root)
	if err != nil {
		return err
	}
	start := make([]string, 0, len(progs))
	dest := make(map[string]string, len(progs))
	for _, p := range progs {
		start = append(start, p.found)
		dest[p.found] = p.guest
	}
	files, err := root.closure(start)
	if err != nil {
		return err
	}
	for _, g := range files {
		host, _, err := root.resolve(g)
		if err != nil {
			return err
		}
		to := g
		if d, ok := dest[g]; ok {
			to = d
		}
		if err := addFile(w, to, host); err != nil {
			return err
		}
	}
	// busybox's applets are linked at boot (busybox --install -s); iptables
	// is the legacy multi-call binary under its usual names.
	for _, name := range []string{"iptables", "iptables-legacy"} {
		if err := w.Symlink("/usr/sbin/"+name, "xtables-legacy-multi"); err != nil {
			return err
		}
	}
	// netem's delay distribution tables, for scenarios with jitter.
	if err := addTree(w, root, "/usr/lib/"+root.triplet+"/tc"); err != nil {
		return err
	}

	var planText strings.Builder
	for _, p := range plan.pkgs {
		bin := "/rig/bin/" + p.Name + ".test"
		if err := addFile(w, bin, p.Binary); err != nil {
			return err
		}
		src := "/rig/src/" + p.Rel
		if err := w.Dir(src, 0o755); err != nil {
			return err
		}
		if td := filepath.Join(p.Dir, "testdata"); fileExists(td) {
			if err := addTree(w, sysroot{dir: p.Dir}, "/testdata", src); err != nil {
				return err
			}
		}
		fmt.Fprintf(&planText, "%s %s\n", p.Name, src)
	}
	if err := addBytes(w, "/rig/plan", 0o644, []byte(planText.String())); err != nil {
		return err
	}
	if err := addBytes(w, "/rig/run", 0o644, []byte(plan.run)); err != nil {
		return err
	}
	return addBytes(w, "/rig/timeout", 0o644, []byte(plan.timeout))
}

// guestProgram is a program the initramfs carries: found is where the
// userland tree has it, guest where the initramfs puts it.
type guestProgram struct{ guest, found string }

// guestPrograms finds the programs the initramfs carries. ip and tc go to
// /usr/sbin whatever directory their package uses, since the init puts
// /usr/sbin first in PATH to shadow busybox's ip and tc applets.
func guestPrograms(root sysroot) ([]guestProgram, error) {
	want := []struct {
		guest      string
		candidates []string
	}{
		{"/bin/busybox", []string{"/bin/busybox", "/usr/bin/busybox"}},
		{"/usr/sbin/ip", []string{"/usr/sbin/ip", "/sbin/ip", "/bin/ip", "/usr/bin/ip"}},
		{"/usr/sbin/tc", []string{"/usr/sbin/tc", "/sbin/tc"}},
		{"/usr/sbin/xtables-legacy-multi", []string{"/usr/sbin/xtables-legacy-multi", "/sbin/xtables-legacy-multi"}},
	}
	for _, m := range []string{"libxt_standard.so", "libxt_statistic.so", "libxt_udp.so", "libxt_tcp.so"} {
		p := "/usr/lib/" + root.triplet + "/xtables/" + m
		want = append(want, struct {
			guest      string
			candidates []string
		}{p, []string{p}})
	}
	progs := make([]guestProgram, 0, len(want))
	for _, wp := range want {
		found := ""
		for _, c := range wp.candidates {
			if _, _, err := root.resolve(c); err == nil {
				found = c
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%w: %s not in %s (packages: busybox-static, iproute2, iptables)", ErrMissingPackages, wp.guest, root.dir)
		}
		progs = append(progs, guestProgram{guest: wp.guest, found: found})
	}
	return progs, nil
}

func addBytes(w *cpioWriter, name string, perm uint32, b []byte) error {
	return w.File(name, perm, strings.NewReader(string(b)), int64(len(b)))
}

// addFile copies the host file at host into the archive as name.
func addFile(w *cpioWriter, name, host string) error {
	f, err := os.Open(host)
	if err != nil {
		return fmt.Errorf("rig: initramfs: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("rig: initramfs: %w", err)
	}
	return w.File(name, uint32(fi.Mode().Perm()), f, fi.Size())
}

// addTree copies the directory dir of root into the archive, at dir or at
// the optional destination; a missing directory adds nothing.
func addTree(w *cpioWriter, root sysroot, dir string, dest ...string) error {
	base := filepath.Join(root.dir, dir)
	if !fileExists(base) {
		return nil
	}
	to := dir
	if len(dest) > 0 {
		to = path.Join(dest[0], path.Base(dir))
	}
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("rig: initramfs: %w", err)
		}
		rel, _ := filepath.Rel(base, p)
		name := path.Join(to, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			return w.Dir(name, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("rig: initramfs: %w", err)
			}
			return w.Symlink(name, target)
		case d.Type().IsRegular():
			return addFile(w, name, p)
		}
		return nil
	})
}
