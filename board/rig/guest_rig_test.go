//go:build rig && linux

package rig

// Guest-side checks that the drivers the gpio, media, audio and network
// layers' rig tests rely on are in the guest kernel and usable. They skip
// anywhere but inside the rig's guest (TETHER_RIG_GUEST=1).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/warthog618/go-gpiocdev"
	"golang.org/x/sys/unix"

	"tether/internal/testenv"
)

func needGuest(t *testing.T) {
	t.Helper()
	if !InGuest() {
		t.Skip("runs only inside the rig guest (" + GuestEnv + "=1); run it with: go run ./cmd/tether-rig ./board/rig")
	}
}

// V4L2 ABI (include/uapi/linux/videodev2.h); the ioctl numbers are the
// same on every arch the rig boots.
type v4l2Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

type v4l2FmtDesc struct {
	Index       uint32
	Type        uint32
	Flags       uint32
	Description [32]byte
	PixelFormat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

const (
	vidiocQuerycap = 0x80685600 // _IOR('V', 0, struct v4l2_capability)
	vidiocEnumFmt  = 0xc0405602 // _IOWR('V', 2, struct v4l2_fmtdesc)

	capVideoCapture      = 0x00000001
	capVideoM2MMplane    = 0x00004000
	capVideoM2M          = 0x00008000
	bufTypeVideoCapture  = 1
	bufTypeCaptureMplane = 9
)

// fourcc packs a V4L2 pixel format code.
func fourcc(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func cstr(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }

// videoNode is a /dev/videoN with its sysfs name and QUERYCAP answer.
type videoNode struct {
	dev  string
	name string
	cap  v4l2Capability
}

func videoNodes(t *testing.T) []videoNode {
	t.Helper()
	names, _ := filepath.Glob("/sys/class/video4linux/video*")
	var nodes []videoNode
	for _, sys := range names {
		n := videoNode{dev: "/dev/" + filepath.Base(sys)}
		if b, err := os.ReadFile(filepath.Join(sys, "name")); err == nil {
			n.name = strings.TrimSpace(string(b))
		}
		fd, err := unix.Open(n.dev, unix.O_RDWR|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatalf("open %s (%s): %v", n.dev, n.name, err)
		}
		err = ioctl(fd, vidiocQuerycap, unsafe.Pointer(&n.cap))
		unix.Close(fd)
		if err != nil {
			t.Fatalf("VIDIOC_QUERYCAP %s (%s): %v", n.dev, n.name, err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// enumFormats lists the pixel formats of one buffer queue (VIDIOC_ENUM_FMT
// until EINVAL).
func enumFormats(t *testing.T, dev string, bufType uint32) []uint32 {
	t.Helper()
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("open %s: %v", dev, err)
	}
	defer unix.Close(fd)
	var out []uint32
	for i := uint32(0); i < 64; i++ {
		d := v4l2FmtDesc{Index: i, Type: bufType}
		err := ioctl(fd, vidiocEnumFmt, unsafe.Pointer(&d))
		if errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			t.Fatalf("VIDIOC_ENUM_FMT %s #%d: %v", dev, i, err)
		}
		out = append(out, d.PixelFormat)
	}
	return out
}

func TestGuestV4L2StructSizes(t *testing.T) {
	// The ioctl numbers above encode these sizes.
	if got := unsafe.Sizeof(v4l2Capability{}); got != 104 {
		t.Errorf("sizeof(v4l2_capability) = %d, want 104", got)
	}
	if got := unsafe.Sizeof(v4l2FmtDesc{}); got != 64 {
		t.Errorf("sizeof(v4l2_fmtdesc) = %d, want 64", got)
	}
}

func TestGuestVividCapture(t *testing.T) {
	needGuest(t)
	for _, n := range videoNodes(t) {
		if cstr(n.cap.Driver[:]) != "vivid" || n.cap.DeviceCaps&capVideoCapture == 0 {
			continue
		}
		t.Logf("%s %q: driver %q card %q caps %#x", n.dev, n.name, cstr(n.cap.Driver[:]), cstr(n.cap.Card[:]), n.cap.DeviceCaps)
		if fmts := enumFormats(t, n.dev, bufTypeVideoCapture); len(fmts) == 0 {
			t.Errorf("%s: vivid capture lists no formats", n.dev)
		} else if !slices.Contains(fmts, fourcc("YUYV")) {
			t.Errorf("%s: vivid capture formats %x lack YUYV", n.dev, fmts)
		}
		return
	}
	t.Fatal("no vivid video capture node (CONFIG_VIDEO_VIVID)")
}

func TestGuestVicodecEncoder(t *testing.T) {
	needGuest(t)
	for _, n := range videoNodes(t) {
		if cstr(n.cap.Driver[:]) != "vicodec" || n.name != "stateful-encoder" {
			continue
		}
		if n.cap.DeviceCaps&(capVideoM2M|capVideoM2MMplane) == 0 {
			t.Fatalf("%s: vicodec encoder caps %#x are not mem2mem", n.dev, n.cap.DeviceCaps)
		}
		// The encoder's CAPTURE queue carries the compressed stream.
		q := uint32(bufTypeVideoCapture)
		if n.cap.DeviceCaps&capVideoM2MMplane != 0 {
			q = bufTypeCaptureMplane
		}
		fmts := enumFormats(t, n.dev, q)
		t.Logf("%s %q caps %#x capture formats %x", n.dev, n.name, n.cap.DeviceCaps, fmts)
		if !slices.Contains(fmts, fourcc("FWHT")) {
			t.Errorf("%s: encoder capture formats %x lack FWHT", n.dev, fmts)
		}
		return
	}
	t.Fatal("no vicodec stateful-encoder node (CONFIG_VIDEO_VICODEC)")
}

// gpioSim creates a gpio-sim chip with lines lines through configfs
// (Documentation/admin-guide/gpio/gpio-sim.rst) and returns its chip name
// and the sysfs directory of its lines; cleanup removes it.
func gpioSim(t *testing.T, name string, lines int) (chip, sysdir string) {
	t.Helper()
	dev := filepath.Join("/sys/kernel/config/gpio-sim", name)
	bank := filepath.Join(dev, "bank0")
	if err := os.MkdirAll(bank, 0o755); err != nil {
		t.Fatalf("gpio-sim configfs (CONFIG_GPIO_SIM, configfs mounted?): %v", err)
	}
	write := func(p, v string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
	}
	write(filepath.Join(bank, "num_lines"), strconv.Itoa(lines))
	write(filepath.Join(dev, "live"), "1")
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dev, "live"), []byte("0"), 0o644)
		os.Remove(bank)
		os.Remove(dev)
	})
	b, err := os.ReadFile(filepath.Join(bank, "chip_name"))
	if err != nil {
		t.Fatalf("gpio-sim chip_name: %v", err)
	}
	chip = strings.TrimSpace(string(b))
	b, err = os.ReadFile(filepath.Join(dev, "dev_name"))
	if err != nil {
		t.Fatalf("gpio-sim dev_name: %v", err)
	}
	sysdir = filepath.Join("/sys/devices/platform", strings.TrimSpace(string(b)), chip)
	return chip, sysdir
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return strings.TrimSpace(string(b))
}

func TestGuestGPIOSim(t *testing.T) {
	needGuest(t)
	chip, sysdir := gpioSim(t, "rigcheck", 8)
	c, err := gpiocdev.NewChip(chip, gpiocdev.WithConsumer("rig"))
	if err != nil {
		t.Fatalf("open %s: %v", chip, err)
	}
	defer c.Close()
	if c.Lines() != 8 {
		t.Fatalf("%s has %d lines, want 8", chip, c.Lines())
	}

	t.Run("output reads back in sysfs", func(t *testing.T) {
		l, err := c.RequestLine(3, gpiocdev.AsOutput(0))
		if err != nil {
			t.Fatalf("request line 3: %v", err)
		}
		defer l.Close()
		for _, v := range []int{1, 0, 1} {
			if err := l.SetValue(v); err != nil {
				t.Fatalf("set %d: %v", v, err)
			}
			if got := readTrim(t, filepath.Join(sysdir, "sim_gpio3", "value")); got != strconv.Itoa(v) {
				t.Errorf("after SetValue(%d) sim_gpio3/value = %s", v, got)
			}
		}
	})

	t.Run("input follows simulated pull", func(t *testing.T) {
		l, err := c.RequestLine(5, gpiocdev.AsInput, gpiocdev.WithPullUp)
		if err != nil {
			t.Fatalf("request line 5: %v", err)
		}
		defer l.Close()
		if v, err := l.Value(); err != nil || v != 1 {
			t.Errorf("with pull-up: value %d, %v; want 1", v, err)
		}
		// A button pressed to ground: the simulator pulls the line down.
		pull := filepath.Join(sysdir, "sim_gpio5", "pull")
		if err := os.WriteFile(pull, []byte("pull-down"), 0o644); err != nil {
			t.Fatalf("write %s: %v", pull, err)
		}
		if v, err := l.Value(); err != nil || v != 0 {
			t.Errorf("after simulated pull-down: value %d, %v; want 0", v, err)
		}
	})
}

func TestGuestSndAloop(t *testing.T) {
	needGuest(t)
	b, err := os.ReadFile("/proc/asound/cards")
	if err != nil {
		t.Fatalf("no ALSA (CONFIG_SND, CONFIG_SND_PROC_FS): %v", err)
	}
	card := -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Contains(line, "Loopback") {
			card, _ = strconv.Atoi(f[0])
			break
		}
	}
	if card < 0 {
		t.Fatalf("no Loopback card in /proc/asound/cards (CONFIG_SND_ALOOP):\n%s", b)
	}
	for _, node := range []string{
		fmt.Sprintf("/dev/snd/controlC%d", card),
		fmt.Sprintf("/dev/snd/pcmC%dD0c", card),
		fmt.Sprintf("/dev/snd/pcmC%dD0p", card),
	} {
		if _, err := os.Stat(node); err != nil {
			t.Errorf("loopback node: %v", err)
		}
	}
	// The control device answers its protocol version
	// (SNDRV_CTL_IOCTL_PVERSION = _IOR('U', 0, int)).
	fd, err := unix.Open(fmt.Sprintf("/dev/snd/controlC%d", card), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("open control: %v", err)
	}
	defer unix.Close(fd)
	v, err := unix.IoctlGetInt(fd, 0x80045500)
	if err != nil || v>>16 != 2 {
		t.Errorf("SNDRV_CTL_IOCTL_PVERSION = %#x, %v; want 2.x.x", v, err)
	}
}

// echoServer answers every UDP datagram and TCP stream it gets with the
// same bytes, until the test ends.
func echoServer(t *testing.T, p *NetPair) (udpAddr, tcpAddr string) {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	err := p.Do(p.B, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", p.B.Addr.String()+":0"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp4", p.B.Addr.String()+":0")
		return err
	})
	if err != nil {
		t.Fatalf("echo server in %s: %v", p.B.NS, err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 2048)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return pc.LocalAddr().String(), ln.Addr().String()
}

// udpPings sends n numbered datagrams from side A, one at a time, and
// returns the round-trip times of those answered within wait.
func udpPings(t *testing.T, p *NetPair, addr string, n int, wait time.Duration) []time.Duration {
	t.Helper()
	var c net.Conn
	if err := p.Do(p.A, func() (err error) { c, err = net.Dial("udp4", addr); return err }); err != nil {
		t.Fatalf("dial %s from %s: %v", addr, p.A.NS, err)
	}
	defer c.Close()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		msg := []byte("ping " + strconv.Itoa(i))
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("send: %v", err)
		}
		c.SetReadDeadline(start.Add(wait))
		for {
			m, err := c.Read(buf)
			if err != nil {
				break // lost (or answered too late)
			}
			if bytes.Equal(buf[:m], msg) {
				rtts = append(rtts, time.Since(start))
				break
			}
			// a late answer to an earlier ping: keep waiting for this one
		}
	}
	return rtts
}

func tcpRTT(t *testing.T, p *NetPair, addr string, n int) []time.Duration {
	t.Helper()
	var c net.Conn
	if err := p.Do(p.A, func() (err error) { c, err = net.DialTimeout("tcp4", addr, 5*time.Second); return err }); err != nil {
		t.Fatalf("tcp dial %s from %s: %v", addr, p.A.NS, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var rtts []time.Duration
	buf := make([]byte, 8)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := c.Write([]byte("12345678")); err != nil {
			t.Fatalf("tcp write: %v", err)
		}
		if _, err := readFull(c, buf); err != nil {
			t.Fatalf("tcp read: %v", err)
		}
		rtts = append(rtts, time.Since(start))
	}
	return rtts
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// checkDelayed checks round trips through netem delay 100ms: netem holds
// each packet at least 100ms, so no round trip may be shorter, and the
// median may not rise by more than 400ms (TCG is slow, not that slow).
func checkDelayed(t *testing.T, proto string, rtts []time.Duration, rise time.Duration) {
	t.Helper()
	for _, r := range rtts {
		if r < 100*time.Millisecond {
			t.Errorf("%s round trip of %v through netem delay 100ms", proto, r)
		}
	}
	if rise > 400*time.Millisecond {
		t.Errorf("%s RTT rose by %v with netem delay 100ms, want about 100ms", proto, rise)
	}
}

// TestGuestNetem is the template for the socket and WebRTC layers' delay
// scenarios: two namespaces joined by veth, netem shaping the A→B
// direction, an echo across. It checks that netem acts (no round trip
// beats the delay), not how precisely, since the guest runs under TCG.
func TestGuestNetem(t *testing.T) {
	needGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := NewNetPair(ctx, "rigcheck")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	udp, tcp := echoServer(t, p)

	base := testenv.Median(udpPings(t, p, udp, 10, time.Second))
	baseTCP := testenv.Median(tcpRTT(t, p, tcp, 5))
	t.Logf("baseline RTT: udp %v, tcp %v", base, baseTCP)
	if base == 0 {
		t.Fatal("no UDP echo across the veth link without netem")
	}

	t.Run("delay 100ms", func(t *testing.T) {
		if err := p.Netem(ctx, p.A, "delay", "100ms"); err != nil {
			t.Fatal(err)
		}
		defer p.ClearNetem(ctx, p.A)
		rtts := udpPings(t, p, udp, 10, 2*time.Second)
		tcpRtts := tcpRTT(t, p, tcp, 5)
		got, gotTCP := testenv.Median(rtts)-base, testenv.Median(tcpRtts)-baseTCP
		t.Logf("added RTT: udp %v (%d answers), tcp %v", got, len(rtts), gotTCP)
		if len(rtts) != 10 {
			t.Errorf("%d of 10 pings answered with delay alone", len(rtts))
		}
		checkDelayed(t, "udp", rtts, got)
		checkDelayed(t, "tcp", tcpRtts, gotTCP)
	})

	t.Run("delay 100ms loss 10%", func(t *testing.T) {
		if err := p.Netem(ctx, p.A, "delay", "100ms", "loss", "10%"); err != nil {
			t.Fatal(err)
		}
		defer p.ClearNetem(ctx, p.A)
		rtts := udpPings(t, p, udp, 20, 500*time.Millisecond)
		got := testenv.Median(rtts) - base
		t.Logf("added RTT %v, %d of 20 answered", got, len(rtts))
		if len(rtts) < 10 {
			t.Errorf("only %d of 20 answered at 10%% loss", len(rtts))
		}
		checkDelayed(t, "udp", rtts, got)
	})

	t.Run("loss 100%", func(t *testing.T) {
		if err := p.Netem(ctx, p.A, "loss", "100%"); err != nil {
			t.Fatal(err)
		}
		defer p.ClearNetem(ctx, p.A)
		if rtts := udpPings(t, p, udp, 3, 300*time.Millisecond); len(rtts) != 0 {
			t.Errorf("%d of 3 answered through netem loss 100%%", len(rtts))
		}
	})

	t.Run("iptables statistic drops every second", func(t *testing.T) {
		// iptables-extensions(8) statistic --mode nth: deterministic loss.
		rule := []string{"INPUT", "-p", "udp", "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0", "-j", "DROP"}
		if err := p.Exec(ctx, p.B, "iptables", append([]string{"-A"}, rule...)...); err != nil {
			t.Fatal(err)
		}
		defer p.Exec(ctx, p.B, "iptables", append([]string{"-D"}, rule...)...)
		if rtts := udpPings(t, p, udp, 10, 300*time.Millisecond); len(rtts) != 5 {
			t.Errorf("%d of 10 answered with every second datagram dropped, want 5", len(rtts))
		}
	})
}

// TestGuestVKMS checks the virtual display (issue 15): vkms registers a
// platform device named "vkms" (it binds no driver in 6.1) that owns a DRM card.
func TestGuestVKMS(t *testing.T) {
	needGuest(t)
	cards, _ := filepath.Glob("/sys/class/drm/card[0-9]")
	for _, c := range cards {
		link, err := os.Readlink(filepath.Join(c, "device"))
		if err == nil && filepath.Base(link) == "vkms" {
			if _, err := os.Stat(filepath.Join("/dev/dri", filepath.Base(c))); err != nil {
				t.Fatalf("%s is vkms but has no device node: %v", c, err)
			}
			t.Logf("%s: vkms", c)
			return
		}
	}
	t.Fatalf("no vkms card among %v (CONFIG_DRM_VKMS)", cards)
}
