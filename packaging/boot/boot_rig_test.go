//go:build rig && linux

package boot

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tether/board/rig"
)

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func install(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

func get(url string) string {
	c := http.Client{Timeout: 3 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return string(b)
}

var connected = regexp.MustCompile(`(?m)^tether_socket_state\{state="connected"\} 1$`)

// waitConnected returns the pid the init script recorded, once tetherd is
// connected to the hub and is not old.
func waitConnected(t *testing.T, old int, within time.Duration) (int, time.Duration) {
	t.Helper()
	return waitConnectedPID(t, old, within, func() int {
		b, _ := os.ReadFile("/var/run/tetherd.pid")
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}, func() string {
		log, _ := os.ReadFile("/var/log/tetherd.log")
		return string(log)
	})
}

// waitConnectedPID waits for the daemon whose pid mainPID reports (not old)
// to be connected to the hub; logs gives its log on failure.
func waitConnectedPID(t *testing.T, old int, within time.Duration, mainPID func() int, logs func() string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if pid := mainPID(); pid > 0 && pid != old && connected.MatchString(get("http://127.0.0.1:9101/metrics")) {
			return pid, time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("tetherd (not pid %d) not connected to the hub within %s; log tail:\n%s", old, within, tailOf(logs(), 40))
	return 0, 0
}

// opened lists the device nodes pid holds open.
func opened(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "/dev/") {
			out = append(out, l)
		}
	}
	return out
}

// vividCapture finds vivid's video capture node.
func vividCapture(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob("/sys/class/video4linux/video*/name")
	for _, p := range m {
		b, _ := os.ReadFile(p)
		if strings.HasPrefix(strings.TrimSpace(string(b)), "vivid") && strings.Contains(string(b), "vid-cap") {
			return "/dev/" + filepath.Base(filepath.Dir(p))
		}
	}
	var names []string
	for _, p := range m {
		b, _ := os.ReadFile(p)
		names = append(names, p+"="+strings.TrimSpace(string(b)))
	}
	t.Fatalf("no vivid capture node among %v", names)
	return ""
}

func uptime() string {
	b, _ := os.ReadFile("/proc/uptime")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0] + " s"
}

// TestBootShipped runs inside the guest: installs the staged files where
// the Buildroot package and overlay put them, brings up the NIC, logs the
// counter in to the hub on the host, starts tetherd with the BusyBox init
// script, and after the start, a kill -9 and a SIGSTOP (the watchdog) asks
// the host's Chromium customer whether it decodes the camera's frames.
func TestBootShipped(t *testing.T) {
	if !rig.InGuest() {
		t.Skip("runs only inside the rig guest")
	}
	src, _ := filepath.Abs("testdata/dist")
	if _, err := os.Stat(filepath.Join(src, "tetherd")); err != nil {
		t.Skip("no staged dist files (TestBootShippedArm64 stages them)")
	}
	fmt.Printf("BOOT-USERLAND uptime=%s\n", uptime())
	install(t, filepath.Join(src, "tetherd"), "/usr/bin/tetherd", 0o755)
	install(t, filepath.Join(src, "tether-hub"), "/usr/bin/tether-hub", 0o755)
	install(t, filepath.Join(src, "S90tetherd"), "/etc/init.d/S90tetherd", 0o755)
	install(t, filepath.Join(src, "default"), "/etc/default/tetherd", 0o644)
	install(t, filepath.Join(src, "tetherd.json"), "/etc/tether/tetherd.json", 0o644)
	// The watchdog is shortened for the test (30 s shipped). On a Pi the
	// camera is /dev/video0 (the board profile's); in the rig guest that
	// is vicodec, so the camera is named through the init script's
	// TETHERD_ARGS as an installer would.
	cam := vividCapture(t)
	appendFile(t, "/etc/default/tetherd", "WATCHDOG_SEC=10\nTETHERD_ARGS=\"-camera "+cam+" -width 320 -height 240 -fps 10\"\n")
	// What Buildroot's makeusers and eudev would have done.
	appendFile(t, "/etc/passwd", "tether:x:1000:1000:Tether:/var/lib/tether:/bin/false\n")
	appendFile(t, "/etc/group", "tether:x:1000:\nvideo:x:44:tether\naudio:x:29:tether\ngpio:x:997:tether\ndialout:x:20:tether\n")
	for glob, grp := range map[string]string{"/dev/video*": "video", "/dev/snd/*": "audio", "/dev/gpiochip*": "gpio"} {
		m, _ := filepath.Glob(glob)
		for _, d := range m {
			run(t, "", "chgrp", grp, d)
			run(t, "", "chmod", "0660", d)
		}
	}
	// /var and /var/lib as a root filesystem has them (0755), so the
	// tether user can reach its state directory.
	for _, d := range []string{"/var", "/var/lib", "/var/log"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	if err := os.MkdirAll("/var/lib/tether", 0o750); err != nil {
		t.Fatal(err)
	}

	// The hub runs on the host (TestBootShippedArm64); the guest's NIC
	// reaches it through qemu's forwards only.
	net := guestNet(t, filepath.Join(src, "net"))
	hubURL := net["hub"]
	for i := 0; i < 120 && get(hubURL+"/healthz") == ""; i++ {
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Printf("BOOT-NET addr=%s hub=%s healthz=%q uptime=%s\n", net["addr"], hubURL, strings.TrimSpace(get(hubURL+"/healthz")), uptime())
	run(t, net["password"]+"\n", "tetherd", "login", "-hub", hubURL, "-user", "counter-1", "-data", "/var/lib/tether/tetherd.db")
	run(t, "", "chown", "-R", "tether:tether", "/var/lib/tether")

	fmt.Printf("BOOT-INIT-START uptime=%s\n", uptime())
	run(t, "", "/etc/init.d/S90tetherd", "start")
	defer exec.Command("/etc/init.d/S90tetherd", "stop").Run()
	pid, took := waitConnected(t, 0, 5*time.Minute)
	fmt.Printf("BOOT-READY pid=%d after=%s uptime=%s\n", pid, took.Round(100*time.Millisecond), uptime())

	// Capture: the arm64 binary holds vivid's and snd-aloop's nodes open.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		devs := strings.Join(opened(pid), " ")
		if strings.Contains(devs, "/dev/video") && strings.Contains(devs, "/dev/snd/pcm") {
			fmt.Printf("BOOT-CAPTURE pid=%d devices=%q uptime=%s\n", pid, devs, uptime())
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile("/var/log/tetherd.log")
			t.Errorf("tetherd does not capture from vivid and snd-aloop: open devices %q; log tail:\n%s", devs, tailOf(string(log), 40))
			break
		}
		time.Sleep(time.Second)
	}
	// A Chromium customer on the host decodes the camera's frames.
	fmt.Printf("BOOT-FRAMES %s uptime=%s\n", customerFrames(t, net["ctl"], "ready"), uptime())
	if st, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if s, ok := st.Sys().(*syscall.Stat_t); ok && s.Uid != 1000 {
			t.Errorf("tetherd runs as uid %d, want tether (1000)", s.Uid)
		}
	}

	// kill -9: the init script's loop starts it again (RESTART_SEC=3).
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pid2, took := waitConnected(t, pid, 3*time.Minute)
	fmt.Printf("BOOT-KILL9 old=%d new=%d back-after=%s\n", pid, pid2, took.Round(100*time.Millisecond))
	c := customerFrames(t, net["ctl"], "kill9")
	fmt.Printf("BOOT-KILL9-FRAMES frames-back-after=%s %s\n", time.Since(killed).Round(100*time.Millisecond), c)

	// SIGSTOP: the process is there but frozen; the watchdog kills it.
	stopped := time.Now()
	if err := syscall.Kill(pid2, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	pid3, took := waitConnected(t, pid2, 3*time.Minute)
	fmt.Printf("BOOT-SIGSTOP old=%d new=%d back-after=%s\n", pid2, pid3, took.Round(100*time.Millisecond))
	c = customerFrames(t, net["ctl"], "sigstop")
	fmt.Printf("BOOT-SIGSTOP-FRAMES frames-back-after=%s %s\n", time.Since(stopped).Round(100*time.Millisecond), c)

	// Bad input: the tether user without the video group. tetherd still
	// connects (the counter stays reachable), its log names the device
	// and the cause, and it is at fault with the group to add (fault.go).
	run(t, "", "/etc/init.d/S90tetherd", "stop")
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Fatal(err)
	}
	noVideo := strings.Replace(string(group), "video:x:44:tether", "video:x:44:", 1)
	if err := os.WriteFile("/etc/group", []byte(noVideo), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate("/var/log/tetherd.log", 0)
	run(t, "", "/etc/init.d/S90tetherd", "start")
	pid4, _ := waitConnected(t, pid3, 3*time.Minute)
	deadline = time.Now().Add(time.Minute)
	for {
		log, _ := os.ReadFile("/var/log/tetherd.log")
		if i := strings.Index(string(log), cam+": permission denied"); i >= 0 {
			start := strings.LastIndex(string(log[:i]), "\n") + 1
			end := strings.Index(string(log[i:]), "\n")
			if end < 0 {
				end = len(log) - i
			}
			fmt.Printf("BOOT-NO-VIDEO-GROUP pid=%d %s\n", pid4, log[start:i+end])
			want := "fault: permission denied on camera " + cam + " (group video): user tether is not in the group (usermod -aG video tether"
			if !strings.Contains(string(log), want) {
				t.Errorf("without the video group, no fault line %q in the log:\n%s", want, tailOf(string(log), 30))
			}
			if m := regexp.MustCompile(`tether_state\{state="fault"\} 1`).FindString(get("http://127.0.0.1:9101/metrics")); m == "" {
				t.Errorf("without the video group, the metrics do not say fault")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("without the video group, the log does not name %s and the cause:\n%s", cam, tailOf(string(log), 30))
			break
		}
		time.Sleep(time.Second)
	}
}

// guestNet reads the network the host test chose (key=value lines) and
// configures eth0 with it.
func guestNet(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			kv[k] = v
		}
	}
	run(t, "", "ip", "link", "set", "eth0", "up")
	run(t, "", "ip", "addr", "add", kv["addr"], "dev", "eth0")
	run(t, "", "ip", "route", "add", "default", "via", kv["gw"])
	return kv
}

// customerFrames asks the host's Chromium customer for decoded frames of
// a new call and returns its answer (it waits up to 3 minutes).
func customerFrames(t *testing.T, ctl, phase string) string {
	t.Helper()
	return customerFramesLog(t, ctl, phase, func() string {
		log, _ := os.ReadFile("/var/log/tetherd.log")
		return string(log)
	})
}

func customerFramesLog(t *testing.T, ctl, phase string, logs func() string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Minute}
	r, err := c.Get(ctl + "/frames/" + phase)
	if err != nil {
		t.Fatalf("customer %s: %v", phase, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("customer %s: %s\ntetherd log tail:\n%s", phase, b, tailOf(logs(), 40))
	}
	return strings.TrimSpace(string(b))
}
