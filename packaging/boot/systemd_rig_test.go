//go:build rig && linux

package boot

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// debianNet is where TestBootSystemdArm64 leaves the network the host
// chose (key=value lines, as testdata/dist/net for TestBootShipped).
const debianNet = "/etc/tether-boot/net"

// systemctlShow reads one property of a unit.
func systemctlShow(unit, prop string) string {
	out, _ := exec.Command("systemctl", "show", "-P", prop, unit).Output()
	return strings.TrimSpace(string(out))
}

func journal() string {
	out, _ := exec.Command("journalctl", "-u", "tetherd", "--no-pager", "-o", "cat", "-n", "60").CombinedOutput()
	return string(out)
}

// TestBootSystemd runs in the Debian arm64 guest that TestBootSystemdArm64
// assembles: systemd is init and our arm64 .deb was installed with dpkg,
// so tetherd.service started at boot as the package left it (user tether,
// the sandboxing, the device allow-list). It provisions the counter with
// `tetherd login` (applied through the running daemon's control socket),
// waits for the hub connection and a decoded frame at the host's Chromium
// customer, then checks systemd's side of the design: kill -9 → Restart=
// brings it back; SIGSTOP → WatchdogSec kills and restarts it; a corrupt
// config file → the unit stays active (READY) with the fault in its
// status, without restarting.
func TestBootSystemd(t *testing.T) {
	kv := map[string]string{}
	b, err := os.ReadFile(debianNet)
	if err != nil {
		t.Skip("runs only in the Debian guest of TestBootSystemdArm64")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			kv[k] = v
		}
	}
	fmt.Printf("BOOT-USERLAND uptime=%s system=%s\n", uptime(), strings.TrimSpace(run(t, "", "sh", "-c", "systemctl is-system-running || true")))
	mainPID := func() int { n, _ := strconv.Atoi(systemctlShow("tetherd", "MainPID")); return n }
	for i := 0; i < 240 && systemctlShow("tetherd", "ActiveState") != "active"; i++ {
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Printf("BOOT-UNIT active=%s pid=%d status=%q uptime=%s\n", systemctlShow("tetherd", "ActiveState"), mainPID(),
		systemctlShow("tetherd", "StatusText"), uptime())
	if st, err := os.Stat("/proc/" + strconv.Itoa(mainPID())); err != nil {
		t.Fatalf("tetherd.service has no main process: %v\n%s", err, journal())
	} else if s, ok := st.Sys().(*syscall.Stat_t); ok {
		if u := strings.TrimSpace(run(t, "", "id", "-un", strconv.Itoa(int(s.Uid)))); u != "tether" {
			t.Errorf("tetherd runs as %s, want tether", u)
		}
	}

	guestNet(t, debianNet)
	hubURL := kv["hub"]
	for i := 0; i < 120 && get(hubURL+"/healthz") == ""; i++ {
		time.Sleep(500 * time.Millisecond)
	}
	// Provisioning as the README says; the daemon applies it at once.
	fmt.Printf("BOOT-LOGIN %s", run(t, kv["password"]+"\n", "tetherd", "login", "-hub", hubURL, "-user", "counter-1", "-data", "/var/lib/tether/tetherd.db"))
	pid, took := waitConnectedPID(t, 0, 5*time.Minute, mainPID, journal)
	fmt.Printf("BOOT-READY pid=%d after-login=%s status=%q uptime=%s\n", pid, took.Round(100*time.Millisecond), systemctlShow("tetherd", "StatusText"), uptime())
	devs := strings.Join(opened(pid), " ")
	if !strings.Contains(devs, "/dev/video") || !strings.Contains(devs, "/dev/snd/pcm") {
		// The unit's DevicePolicy=closed with its DeviceAllow list must
		// still let the camera and the sound card through.
		t.Errorf("tetherd under systemd does not hold vivid and snd-aloop open: %q\n%s", devs, journal())
	}
	fmt.Printf("BOOT-FRAMES %s uptime=%s\n", customerFramesLog(t, kv["ctl"], "ready", journal), uptime())

	// restart signals tetherd, waits for systemd to bring a connected one
	// back and prints how long that and the customer's frames took.
	restart := func(label string, pid int, sig syscall.Signal, key, prop string) int {
		sent := time.Now()
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		next, took := waitConnectedPID(t, pid, 3*time.Minute, mainPID, journal)
		fmt.Printf("BOOT-%s old=%d new=%d back-after=%s %s=%s\n", label, pid, next, took.Round(100*time.Millisecond), key, systemctlShow("tetherd", prop))
		fmt.Printf("BOOT-%s-FRAMES frames-back-after=%s %s\n", label, time.Since(sent).Round(100*time.Millisecond), customerFramesLog(t, kv["ctl"], strings.ToLower(label), journal))
		return next
	}
	// kill -9: Restart=always, RestartSec=3.
	pid2 := restart("KILL9", pid, syscall.SIGKILL, "restarts", "NRestarts")
	// SIGSTOP: no WATCHDOG=1 any more; systemd's watchdog aborts it.
	restart("SIGSTOP", pid2, syscall.SIGSTOP, "result", "Result")
	// The whole journal: the SIGABRT's goroutine dump fills its tail.
	if all, _ := exec.Command("journalctl", "-u", "tetherd", "--no-pager", "-o", "cat").CombinedOutput(); !strings.Contains(string(all), "Failed with result 'watchdog'") {
		t.Errorf("the restart after SIGSTOP was not systemd's watchdog:\n%s", journal())
	}

	// Bad input under systemd: a corrupt config file. The unit stays
	// active with the cause in its status; no restart loop.
	if err := os.WriteFile("/etc/tether/tetherd.json", []byte("{\"hub\": \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "", "systemctl", "restart", "tetherd")
	restarts := systemctlShow("tetherd", "NRestarts")
	var status string
	for i := 0; i < 240; i++ {
		if status = systemctlShow("tetherd", "StatusText"); strings.HasPrefix(status, "fault (") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(status, "/etc/tether/tetherd.json: not valid JSON") || systemctlShow("tetherd", "ActiveState") != "active" {
		t.Errorf("corrupt config: unit %s, status %q\n%s", systemctlShow("tetherd", "ActiveState"), status, journal())
	}
	time.Sleep(10 * time.Second) // three RestartSec: a crash loop would show
	if r := systemctlShow("tetherd", "NRestarts"); r != restarts || systemctlShow("tetherd", "ActiveState") != "active" {
		t.Errorf("corrupt config: restarts %s → %s, unit %s", restarts, r, systemctlShow("tetherd", "ActiveState"))
	}
	fmt.Printf("BOOT-BAD-CONFIG active=%s restarts=%s status=%q\n", systemctlShow("tetherd", "ActiveState"), systemctlShow("tetherd", "NRestarts"), status)
}
