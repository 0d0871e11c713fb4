// Package boot boots what we ship on the emulated arm64 board (issue 14
// §4): the `make dist` arm64 binaries, Buildroot's S90tetherd and
// /etc/default/tetherd, and the generated /etc/tether/tetherd.json, run by
// the rig (board/rig) under qemu TCG against vivid and snd-aloop.
package boot

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/appliance"
	"tether/board/rig"
)

// TestBootShippedArm64 stages the shipped files in testdata/dist and runs
// TestBootShipped (boot_rig_test.go) inside the arm64 guest.
func TestBootShippedArm64(t *testing.T) {
	dist := os.Getenv("TETHER_DIST")
	if dist == "" || os.Getenv("TETHER_RIG") == "" {
		t.Skip("needs TETHER_DIST (make dist) and TETHER_RIG: `make dist-boot` runs it")
	}
	stage := filepath.Join("testdata", "dist")
	os.RemoveAll(stage)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll("testdata")
	files := map[string]string{
		"tetherd":    filepath.Join(dist, "bin/arm64/tetherd"),
		"tether-hub": filepath.Join(dist, "bin/arm64/tether-hub"),
		"S90tetherd": "../../buildroot/package/tetherd/S90tetherd",
		"default":    "../../buildroot/board/tether/rootfs-overlay/etc/default/tetherd",
	}
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("stage %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(stage, "tetherd.json"), appliance.ExampleConfig(), 0o644); err != nil {
		t.Fatal(err)
	}

	network, netFile, cust := startHostHub(t, dist)
	if err := os.WriteFile(filepath.Join(stage, "net"), []byte(netFile), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Minute)
	defer cancel()
	opt := rig.Options{Arch: rig.ARM64, Packages: []string{"./packaging/boot"}, Run: "TestBootShipped", Timeout: 20 * time.Minute, Net: network}
	if testing.Verbose() {
		opt.Console = os.Stderr // the guest's serial console as it comes
	}
	res, err := rig.Run(ctx, opt)
	if res != nil {
		for _, l := range strings.Split(res.Console, "\n") {
			if strings.Contains(l, "BOOT-") || strings.Contains(l, "tetherd:") || strings.Contains(l, "--- ") {
				t.Log(strings.TrimSpace(l))
			}
		}
		t.Logf("qemu start → guest init %s, guest test %s", res.BootTime.Round(100*time.Millisecond), res.GuestTime.Round(100*time.Millisecond))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cust.log {
		t.Logf("customer: %s", l)
	}
	if !res.Passed() {
		c := res.Console
		if len(c) > 20000 {
			c = c[len(c)-20000:]
		}
		t.Fatalf("guest test failed: %+v\nconsole tail:\n%s", res.Failed(), c)
	}
}

func run(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func tailOf(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// startHostHub starts, for the guest, the hub on this machine's loopback:
// the dist amd64 tether-hub with its TURN relay over TCP (the guest
// reaches TCP forwards only), announced on this machine's address H, and
// a Chromium customer at the counter's invite link, asked through a
// control port. The guest's virtual network is made to contain H, and
// qemu forwards the guest's connections to H's hub, TURN and control
// ports to their loopback listeners, so tetherd dials the same URLs a
// customer here would. It returns that network and the key=value lines
// the guest reads (addr, gw, hub, ctl, password).
func startHostHub(t *testing.T, dist string) (*rig.Network, string, *customer) {
	h := hostAddr(t)
	hubBin := filepath.Join(dist, "bin/amd64/tether-hub")
	dir := t.TempDir()
	db := filepath.Join(dir, "hub.db")
	const password = "counter-password-1"
	run(t, password+"\n", hubBin, "account", "add", "counter-1", "-data", db)
	hubPort, turnPort, ctlPort := freePort(t), freePort(t), freePort(t)
	link := strings.Fields(run(t, "", hubBin, "invite", "counter-1", "-data", db, "-public-url", fmt.Sprintf("http://127.0.0.1:%d", hubPort)))[0]
	hub := exec.Command(hubBin, "serve", "-listen", fmt.Sprintf("127.0.0.1:%d", hubPort), "-data", db,
		"-turn-tcp", fmt.Sprintf("127.0.0.1:%d", turnPort), "-public-ip", h.Addr().String(),
		"-turn-allow-peers", netip.PrefixFrom(h.Addr(), 32).String())
	hubLog, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		t.Fatal(err)
	}
	hub.Stdout, hub.Stderr = hubLog, hubLog
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hub.Process.Kill()
		hub.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(hubLog.Name())
			t.Logf("hub log:\n%s", tailOf(string(b), 40))
		}
	})
	cust := newCustomer(t, link+"?name=Customer")
	ctl := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", ctlPort), Handler: cust, ReadHeaderTimeout: 10 * time.Second}
	go ctl.ListenAndServe()
	t.Cleanup(func() { ctl.Close() })

	others := otherAddrs(h, h.Addr(), 3)
	fw := func(p uint16) rig.Forward {
		return rig.Forward{Guest: netip.AddrPortFrom(h.Addr(), p), Host: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p)}
	}
	network := &rig.Network{Prefix: h.Masked(), Gateway: others[0], DNS: others[1],
		Forwards: []rig.Forward{fw(hubPort), fw(turnPort), fw(ctlPort)}}
	netFile := fmt.Sprintf("addr=%s/%d\ngw=%s\nhub=http://%s:%d\nctl=http://%s:%d\npassword=%s\n",
		others[2], h.Bits(), others[0], h.Addr(), hubPort, h.Addr(), ctlPort, password)
	return network, netFile, cust
}
