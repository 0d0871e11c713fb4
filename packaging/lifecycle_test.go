package packaging

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rootCache is where the throw-away Debian root for the package lifecycle
// test is kept (built once with mmdebstrap, ~40 MB of packages).
func rootCache() string {
	if d := os.Getenv("TETHER_DIST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/tether-dist"
}

// debianRoot unpacks a minimal Debian bookworm (adduser, init-system-helpers)
// into a temporary directory, building the cached tarball with mmdebstrap
// the first time.
func debianRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the package lifecycle test needs root (chroot, dpkg)")
	}
	tarball := filepath.Join(rootCache(), "bookworm-minbase-amd64.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := os.Stat(tarball); err != nil {
		if _, err := exec.LookPath("mmdebstrap"); err != nil {
			t.Skip("mmdebstrap not installed (apt-get install mmdebstrap) and no cached root " + tarball)
		}
	}
	if err := DebianRootTar(ctx, tarball, "amd64", []string{"adduser", "init-system-helpers", "passwd"}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", tarball, err, out)
	}
	return root
}

// TestDistDebLifecycle installs the amd64 tetherd package in a throw-away
// Debian root, upgrades it to a newer build with a local edit in the
// conffile, removes it and purges it, checking after each step what a shop
// relies on. systemd is not running in the root, so the scripts enable the
// unit (deb-systemd-helper) without starting it.
func TestDistDebLifecycle(t *testing.T) {
	dir := distDir(t)
	version := distVersion(t, dir)
	bins := Binaries{Tetherd: filepath.Join(dir, "bin/amd64/tetherd"), Hub: filepath.Join(dir, "bin/amd64/tether-hub")}
	if _, err := os.Stat(bins.Tetherd); err != nil {
		t.Skipf("amd64 not built: %v", err)
	}
	root := debianRoot(t)

	// A newer version of the same package for the upgrade.
	tg, _ := TargetByName("amd64")
	newer := &Builder{Out: t.TempDir(), Version: "v99.0.0", MTime: time.Unix(1_800_000_000, 0).UTC()}
	nd, err := newer.Debs(tg, bins, []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	oldVer, _ := DebVersion(version)
	old := filepath.Join(dir, "tetherd_"+oldVer+"_amd64.deb")
	oldHub := filepath.Join(dir, "tether-hub_"+oldVer+"_amd64.deb")
	for _, p := range []string{old, oldHub, nd[0]} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "tmp", filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh := func(script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "chroot", root, "/bin/sh", "-ec", script).CombinedOutput()
		if err != nil {
			t.Fatalf("in the root: %s\n%v\n%s", script, err, out)
		}
		return string(out)
	}
	exists := func(p string) bool { _, err := os.Lstat(filepath.Join(root, p)); return err == nil }
	must := func(cond bool, what string) {
		t.Helper()
		if !cond {
			t.Errorf("%s", what)
		}
	}
	const wants = "etc/systemd/system/multi-user.target.wants/tetherd.service"

	// Install.
	sh("dpkg -i /tmp/" + filepath.Base(old))
	groups := sh("id -nG tether")
	for _, g := range []string{"video", "audio", "gpio"} {
		must(strings.Contains(" "+groups+" ", " "+g), "tether not in group "+g+": "+groups)
	}
	must(strings.Contains(sh("stat -c %U:%a /var/lib/tether"), "tether:750"), "/var/lib/tether not tether's, 0750")
	must(exists(wants), "unit not enabled after install")
	must(strings.Contains(sh("dpkg-query -W -f '${Conffiles}' tetherd"), "/etc/tether/tetherd.json"), "tetherd.json is not a conffile")
	sh(`echo '{"hub": "https://hub.shop.example"}' > /etc/tether/tetherd.json; echo state > /var/lib/tether/tetherd.db`)

	// Upgrade: the local edit and the state survive, the unit stays enabled.
	sh("dpkg -i --force-confold /tmp/" + filepath.Base(nd[0]))
	must(strings.TrimSpace(sh("dpkg-query -W -f '${Version}' tetherd")) == "99.0.0", "upgrade did not install 99.0.0")
	must(strings.Contains(sh("cat /etc/tether/tetherd.json"), "hub.shop.example"), "upgrade lost the local config edit")
	must(exists("var/lib/tether/tetherd.db"), "upgrade lost the state")
	must(exists(wants), "unit not enabled after upgrade")

	// Remove: binary gone; config and state kept.
	sh("dpkg -r tetherd")
	must(!exists("usr/bin/tetherd"), "remove left the binary")
	must(exists("etc/tether/tetherd.json"), "remove deleted the conffile")
	must(exists("var/lib/tether/tetherd.db"), "remove deleted the state")

	// Purge: config, state and unit state gone; the user stays (policy).
	sh("dpkg -P tetherd")
	must(!exists("etc/tether/tetherd.json"), "purge left the conffile")
	must(!exists("var/lib/tether"), "purge left /var/lib/tether")
	must(!exists(wants), "purge left the unit enabled")
	must(strings.Contains(sh("getent passwd tether || true"), "tether:"), "purge removed the system user")

	// The hub package installs next to nothing else and purges clean.
	sh("dpkg -i /tmp/" + filepath.Base(oldHub))
	must(exists("etc/systemd/system/multi-user.target.wants/tether-hub.service"), "hub unit not enabled")
	must(strings.Contains(sh("stat -c %U /var/lib/tether-hub"), "tether-hub"), "/var/lib/tether-hub not the hub's")
	sh("dpkg -P tether-hub")
	must(!exists("var/lib/tether-hub") && !exists("etc/default/tether-hub"), "hub purge left files")

	// The units as systemd reads them (the binaries put where ExecStart
	// expects them, as the packages do).
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		units := t.TempDir()
		for unit, b := range map[string]string{"tetherd.service": bins.Tetherd, "tether-hub.service": bins.Hub} {
			text, _ := Files.ReadFile(unit)
			name := strings.TrimSuffix(unit, ".service")
			text = []byte(strings.ReplaceAll(string(text), "/usr/bin/"+name, b))
			path := filepath.Join(units, unit)
			if err := os.WriteFile(path, text, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			}
		}
	}
}
