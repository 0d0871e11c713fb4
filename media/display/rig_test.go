//go:build rig && linux

package display

// The customer on a real KMS driver: vkms (CONFIG_DRM_VKMS) is the screen
// and its writeback connector reads back what the CRTC composed; vicodec's
// stateful FWHT decoder is the mem2mem decoder (the guest's test binaries
// are built without cgo, so no openh264 here; the RTP and H.264 half is
// covered on the host by display_cgo_test.go). The customer's frames carry
// the test pattern's stamp, recognised in the read-back picture.
//
//	TETHER_RIG=x86_64 TETHER_RIG_PKGS=./media/display go test -run TestGuestSuites ./board/rig

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/media"
	"tether/media/drm"
	"tether/media/testsrc"
	"tether/media/v4l2"
	"tether/media/v4l2m2m"
)

func rigLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fwht codes n stamped pattern frames at w x h with vicodec's encoder.
func fwht(t *testing.T, w, h, n int, base int64) (units [][]byte, stamps []uint64) {
	t.Helper()
	enc, err := v4l2m2m.Find(v4l2.PixFmtFWHT, "vicodec")
	if err != nil {
		t.Skipf("no vicodec encoder: %v", err)
	}
	e, err := v4l2m2m.New(v4l2m2m.Config{Open: v4l2m2m.OpenPath(enc.Path), Width: w, Height: h,
		PixelFormat: v4l2.PixFmtYUV420, CodedFormat: v4l2.PixFmtFWHT, Logger: rigLogger(),
		Sink: func(au v4l2m2m.AccessUnit) { units = append(units, append([]byte(nil), au.Data...)) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	p, _ := testsrc.NewPattern(w, h)
	for i := 0; i < n; i++ {
		ms := base + int64(i)*33
		stamps = append(stamps, uint64(ms))
		ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.Encode(ectx, v4l2m2m.Frame{Data: p.Render(uint64(i), time.UnixMilli(ms)), Timestamp: time.Duration(i+1) * time.Millisecond})
		ecancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(units) != n {
		t.Fatalf("%d units for %d frames", len(units), n)
	}
	return units, stamps
}

// lumaIn samples rect r of an XRGB read-back into a w x h luma plane
// (nearest neighbour, BT.601 limited range): the customer's picture as it
// reached the output, at the customer's own size for the stamp decoder.
func lumaIn(b drm.Buffer, r image.Rectangle, w, h int) []byte {
	y := make([]byte, w*h)
	for row := 0; row < h; row++ {
		sy := r.Min.Y + row*r.Dy()/h
		for x := 0; x < w; x++ {
			o := sy*b.Stride + 4*(r.Min.X+x*r.Dx()/w)
			rr, g, bl := int(b.Pix[o+2]), int(b.Pix[o+1]), int(b.Pix[o])
			y[row*w+x] = byte(16 + (66*rr+129*g+25*bl+128)>>8)
		}
	}
	return y
}

// kmsDebug turns on DRM's KMS and atomic debug messages and returns a
// function that logs the kernel messages since, for a failed commit.
func kmsDebug(t *testing.T) func() {
	if err := os.WriteFile("/sys/module/drm/parameters/debug", []byte("0x15"), 0); err != nil {
		t.Logf("drm debug: %v", err)
	}
	return func() {
		// A raw non-blocking fd: os.File would park on the poller
		// instead of returning EAGAIN at the end of the log.
		fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Logf("kmsg: %v", err)
			return
		}
		defer syscall.Close(fd)
		buf := make([]byte, 8192)
		var lines []string
		for i := 0; i < 100000; i++ {
			n, err := syscall.Read(fd, buf)
			if err == syscall.EPIPE {
				continue // a record was overwritten
			}
			if err != nil || n <= 0 {
				break
			}
			if l := strings.TrimSpace(string(buf[:n])); strings.Contains(l, "drm") || strings.Contains(l, "vkms") || strings.Contains(l, "CONNECTOR") || strings.Contains(l, "CRTC") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("kernel log:\n%s", strings.Join(lines, "\n"))
	}
}

func TestRigVKMSCustomer(t *testing.T) {
	path, err := drm.Find()
	if err != nil {
		t.Skipf("no KMS card (CONFIG_DRM_VKMS): %v", err)
	}
	dinfo, err := v4l2m2m.FindDecoder(v4l2.PixFmtFWHT, "vicodec")
	if err != nil {
		t.Skipf("no vicodec decoder: %v", err)
	}
	const w, h = 640, 480
	units, stamps := fwht(t, w, h, 8, 1_700_000_000_000)

	var opens atomic.Int32
	d, err := New(Config{
		OpenScreen: func() (Screen, error) { opens.Add(1); return ScreenOpener(path)() },
		NewDecoder: func() (Decoder, DecoderKind, string, error) {
			dec, err := HardwareDecoder(v4l2m2m.DecoderConfig{Open: v4l2m2m.OpenPath(dinfo.Path),
				CodedFormat: v4l2.PixFmtFWHT, Wait: 3 * time.Second, Logger: rigLogger()})
			return dec, media.EncoderHardware, dinfo.Path, err
		},
		Logger: rigLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 20*time.Second, "vkms screen open", func() bool { return d.Status().State == media.SourceOK })
	st := d.Status()
	t.Logf("screen %s %dx%d", st.Device, st.Width, st.Height)

	// The status screen reaches the output.
	d.SetStatus("waiting for a customer")
	logged := false
	testenv.Eventually(t, 20*time.Second, "status screen read back", func() bool {
		b, err := d.Capture(context.Background())
		if err != nil {
			t.Logf("capture: %v", err)
			if !logged {
				logged = true
				dump := kmsDebug(t)
				_, err = d.Capture(context.Background())
				t.Logf("again: %v", err)
				dump()
			}
			return false
		}
		r, g, bl := pixel(b, 2, 2)
		return r == 0x10 && g == 0x24 && bl == 0x3a
	})

	// A customer: the track itself carries nothing here (no H.264 in a
	// cgo-less guest); its units go straight to Run's queue under the
	// new customer's generation, as the reader would put them.
	tr := newMemTrack()
	defer tr.close()
	d.SetCustomer(tr)
	testenv.Eventually(t, 10*time.Second, "customer set", func() bool { return d.Status().Customer })
	for _, u := range units {
		d.aus <- au{gen: 1, data: u}
	}
	testenv.Eventually(t, 60*time.Second, "pictures shown", func() bool { return d.Status().Shown >= uint64(len(units)-1) })
	b, err := d.Capture(context.Background())
	if err != nil {
		t.Fatalf("writeback: %v", err)
	}
	cr, _ := Layout(b.Width, b.Height, w, h, 0, 0)
	ms, err := testsrc.Decode(lumaIn(b, cr, w, h), w, w)
	if err != nil {
		t.Fatalf("stamp in the read-back picture: %v", err)
	}
	found := false
	for _, s := range stamps {
		found = found || s == ms
	}
	if !found {
		t.Fatalf("read-back stamp %d is none of the customer's %v", ms, stamps)
	}
	t.Logf("vkms writeback shows the customer's frame stamped %d; status %+v", ms, d.Status())

	// Customer gone: the status screen again, on the same open card.
	d.SetCustomer(nil)
	var last string // what the read-back said, for the failure message
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := d.Capture(context.Background())
		if err == nil {
			r, g, bl := pixel(b, 2, 2)
			if r == 0x10 && g == 0x24 && bl == 0x3a {
				break
			}
			last = fmt.Sprintf("pixel %02x%02x%02x", r, g, bl)
		} else {
			last = "capture: " + err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status screen 30 s after the call: last read-back %s; status %+v", last, d.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("card opened %d times", n)
	}
}
