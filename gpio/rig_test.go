//go:build rig && linux

package gpio

// The real-driver test: go-gpiocdev against the kernel's gpio-sim, as root,
// inside the qemu guest (board/rig). It creates a simulated chip through
// configfs (Documentation/admin-guide/gpio/gpio-sim.rst), plays LED
// patterns on the mock clock and reads the physical levels back from
// /sys/devices/platform/gpio-sim.N/gpiochipM/sim_gpioK/value; the button is
// a simulated input driven through sim_gpioK/pull.
//
//	go test -tags rig -run TestRig -v ./gpio/

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/warthog618/go-gpiocdev"

	"tether/board"
)

const configfs = "/sys/kernel/config"

type simChip struct {
	dir      string // configfs device dir
	label    string
	chipName string // gpiochipN
	sysfs    string // /sys/devices/platform/gpio-sim.X/gpiochipN
}

func writeFile(t *testing.T, path, v string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(b))
}

// newSimChip creates a live gpio-sim device with one bank of lines.
func newSimChip(t *testing.T, lines int) *simChip {
	t.Helper()
	root := filepath.Join(configfs, "gpio-sim")
	if _, err := os.Stat(root); err != nil {
		// Best effort: load the module and mount configfs, as the guest's
		// init may not have.
		_ = exec.Command("modprobe", "gpio-sim").Run()
		if _, err := os.Stat(filepath.Join(configfs, "gpio-sim")); err != nil {
			_ = exec.Command("mount", "-t", "configfs", "none", configfs).Run()
		}
	}
	if _, err := os.Stat(root); err != nil {
		t.Skipf("gpio-sim not available (needs CONFIG_GPIO_SIM and configfs at %s, as root): %v", configfs, err)
	}
	s := &simChip{dir: filepath.Join(root, fmt.Sprintf("tether-%d", os.Getpid())), label: fmt.Sprintf("tether-sim-%d", os.Getpid())}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatalf("create gpio-sim device: %v", err)
	}
	bank := filepath.Join(s.dir, "bank0")
	if err := os.Mkdir(bank, 0o755); err != nil {
		_ = os.Remove(s.dir)
		t.Fatalf("create bank: %v", err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(s.dir, "live"), []byte("0"), 0o644)
		_ = os.Remove(bank)
		_ = os.Remove(s.dir)
	})
	writeFile(t, filepath.Join(bank, "num_lines"), fmt.Sprint(lines))
	writeFile(t, filepath.Join(bank, "label"), s.label)
	writeFile(t, filepath.Join(s.dir, "live"), "1")
	s.chipName = readFile(t, filepath.Join(bank, "chip_name"))
	dev := readFile(t, filepath.Join(s.dir, "dev_name"))
	s.sysfs = filepath.Join("/sys/devices/platform", dev, s.chipName)
	return s
}

// level is the line's physical level as gpio-sim sees it.
func (s *simChip) level(t *testing.T, offset int) int {
	t.Helper()
	switch v := readFile(t, filepath.Join(s.sysfs, fmt.Sprintf("sim_gpio%d", offset), "value")); v {
	case "0":
		return 0
	case "1":
		return 1
	default:
		t.Fatalf("sim_gpio%d value %q", offset, v)
	}
	return -1
}

// pull sets the simulated external pull of an input ("pull-up"/"pull-down").
func (s *simChip) pull(t *testing.T, offset int, pull string) {
	t.Helper()
	writeFile(t, filepath.Join(s.sysfs, fmt.Sprintf("sim_gpio%d", offset), "pull"), pull)
}

func TestRigGPIOSim(t *testing.T) {
	sim := newSimChip(t, 4)
	// The status LED is active-low (wired from 3V3), as is the button.
	pins := board.GPIO{
		Chip:      sim.label,
		LinkLED:   board.Pin{Offset: 0},
		StatusLED: board.Pin{Offset: 1, ActiveLow: true},
		Button:    board.Pin{Offset: 2, ActiveLow: true, PullUp: true},
	}
	// Open by label, the way the Pi 5 profile names its chip.
	chip, err := OpenChip(pins.Chip, "tetherd-rig")
	if err != nil {
		t.Fatal(err)
	}
	if chip.Name() != sim.chipName {
		t.Fatalf("opened %s, want %s", chip.Name(), sim.chipName)
	}

	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	pressed := make(chan time.Time, 4)
	held := make(chan time.Time, 4)
	panel, err := NewPanel(PanelConfig{
		Chip: chip, Pins: pins, Clock: clk, Logger: quiet,
		OnPress: func() { pressed <- clk.Now() },
		OnHold:  func() { held <- clk.Now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	psteps := newStepper[Look]()
	bsteps := newStepper[struct{}]()
	panel.Player.afterStep = psteps.hook
	panel.Button.afterStep = func() { bsteps.hook(struct{}{}) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- panel.Run(ctx) }()
	psteps.wait(t)
	bsteps.wait(t)

	// physical levels for logical LED values: link active-high, status active-low.
	expect := func(link, status int) {
		t.Helper()
		if got := sim.level(t, 0); got != link {
			t.Errorf("link level %d, want %d", got, link)
		}
		if got := sim.level(t, 1); got != 1-status {
			t.Errorf("status level %d, want %d (active-low, logical %d)", got, 1-status, status)
		}
	}
	expect(1, 1) // booting: both lit

	t.Run("patterns", func(t *testing.T) {
		for _, look := range []Look{{Link: FastBlink, Status: Off}, {Link: Off, Status: DoubleBlink}, {Link: Heartbeat, Status: Off}, {Link: FastBlink, Status: FastBlinkB}} {
			panel.SetLook(look)
			psteps.wait(t)
			var el time.Duration
			for i := 0; i < 8; i++ {
				l, dl := look.Link.At(el)
				s, ds := look.Status.At(el)
				expect(b2i(l), b2i(s))
				next := minNonZero(dl, ds)
				if next == 0 {
					break
				}
				clk.Advance(next)
				el += next
				psteps.wait(t)
			}
		}
	})

	t.Run("button press", func(t *testing.T) {
		sim.pull(t, 2, "pull-down") // pressed: line to ground
		bsteps.wait(t)
		clk.Advance(DefaultDebounce)
		bsteps.wait(t)
		sim.pull(t, 2, "pull-up")
		bsteps.wait(t)
		clk.Advance(DefaultDebounce)
		bsteps.wait(t)
		select {
		case <-pressed:
		default:
			t.Fatal("short press not recognised")
		}
	})

	t.Run("button hold", func(t *testing.T) {
		sim.pull(t, 2, "pull-down")
		bsteps.wait(t)
		start := clk.Now()
		clk.Advance(DefaultDebounce)
		bsteps.wait(t)
		clk.Advance(DefaultHold - DefaultDebounce)
		bsteps.wait(t)
		select {
		case at := <-held:
			if at.Sub(start) != DefaultHold {
				t.Fatalf("hold after %v", at.Sub(start))
			}
		default:
			t.Fatal("hold not recognised")
		}
		sim.pull(t, 2, "pull-up")
		bsteps.wait(t)
		clk.Advance(DefaultDebounce)
		bsteps.wait(t)
		if len(pressed) != 0 {
			t.Fatal("release after a hold counted as a press")
		}
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("panel did not stop")
	}
	// Every line is released again.
	c, err := gpiocdev.NewChip(sim.chipName)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for off := 0; off < 3; off++ {
		li, err := c.LineInfo(off)
		if err != nil {
			t.Fatal(err)
		}
		if li.Used {
			t.Errorf("line %d still requested by %q", off, li.Consumer)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func minNonZero(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0 || a < b:
		return a
	}
	return b
}
