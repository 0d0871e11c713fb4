// Package boot boots what we ship on the emulated arm64 board (issue 14
// §4): the `make dist` arm64 binaries, Buildroot's S90tetherd and
// /etc/default/tetherd, and the generated /etc/tether/tetherd.json, run by
// the rig (board/rig) under qemu TCG against vivid and snd-aloop.
package boot

import (
	"context"
	"os"
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
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Minute)
	defer cancel()
	opt := rig.Options{Arch: rig.ARM64, Packages: []string{"./packaging/boot"}, Run: "TestBootShipped", Timeout: 20 * time.Minute}
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
	if !res.Passed() {
		c := res.Console
		if len(c) > 20000 {
			c = c[len(c)-20000:]
		}
		t.Fatalf("guest test failed: %+v\nconsole tail:\n%s", res.Failed(), c)
	}
}
