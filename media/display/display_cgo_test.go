//go:build cgo

package display

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"tether/internal/testenv"
	"tether/media"
	"tether/media/drm"
	"tether/media/swenc"
	"tether/media/testsrc"
	"tether/media/v4l2"
)

// customerStream is what a customer's browser would send: the test
// pattern, stamped with its capture time, coded by our encoder and
// packetized per RFC 6184 by pion.
type customerStream struct {
	units [][]*rtp.Packet
	times []uint64 // stamp of each unit, ms
}

func newCustomerStream(t testing.TB, w, h, n int, ssrc uint32) *customerStream {
	t.Helper()
	cs := &customerStream{}
	pk := rtp.NewPacketizer(1200, 102, ssrc, &codecs.H264Payloader{}, rtp.NewFixedSequencer(1), 90000)
	e, err := swenc.NewH264(swenc.Config{Width: w, Height: h, Bitrate: 1_500_000, KeyframeInterval: 1000,
		Sink: func(au swenc.AccessUnit) {
			cs.units = append(cs.units, pk.Packetize(au.Data, 3000))
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, err := testsrc.NewPattern(w, h)
	if err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i) * 33 * time.Millisecond)
		cs.times = append(cs.times, uint64(at.UnixMilli()))
		if err := e.Encode(context.Background(), swenc.Frame{Data: p.Render(uint64(i), at)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(cs.units) != n {
		t.Fatalf("%d units for %d frames", len(cs.units), n)
	}
	return cs
}

// send queues units [from, to) on tr as a sender would put them on the
// wire now: fresh packets numbered on from the track's last sequence
// number and RTP timestamp.
func (cs *customerStream) send(tr *memTrack, from, to int) {
	for _, u := range cs.units[from:to] {
		tr.ts += 3000
		for _, p := range u {
			c := *p
			tr.seq++
			c.SequenceNumber, c.Timestamp = tr.seq, tr.ts
			tr.ch <- &c
		}
	}
}

// sendPaced sends units [from, to) one at a time, each after Run has
// taken the one before (the samplebuilder releases a unit when the next
// begins): a live sender's pace, so that a loaded test machine (-race, two
// cores shared) never makes the reader drop a unit and wait for an IDR
// this short stream does not have.
func (cs *customerStream) sendPaced(t testing.TB, d *Display, tr *memTrack, from, to int) {
	t.Helper()
	base := d.Status().Decoded + d.Status().DecodeErrors
	for i := from; i < to; i++ {
		cs.send(tr, i, i+1)
		if i == from {
			continue
		}
		want := base + uint64(i-from)
		testenv.Eventually(t, 30*time.Second, fmt.Sprintf("unit %d decoded", i-1), func() bool {
			st := d.Status()
			return st.Decoded+st.DecodeErrors >= want
		})
	}
}

// lumaOf converts an XRGB read-back into a luma plane (BT.601 limited
// range), what the stamp decoder reads.
func lumaOf(b drm.Buffer, r0 int) []byte {
	y := make([]byte, b.Width*b.Height)
	for row := 0; row < b.Height; row++ {
		for x := 0; x < b.Width; x++ {
			o := row*b.Stride + 4*x
			r, g, bl := int(b.Pix[o+2]), int(b.Pix[o+1]), int(b.Pix[o])
			y[row*b.Width+x] = byte(16 + (66*r+129*g+25*bl+128)>>8)
		}
	}
	return y
}

type harness struct {
	d      *Display
	scr    *memScreen
	opens  atomic.Int32
	plis   atomic.Int32
	cancel context.CancelFunc
	done   chan error
}

func startDisplay(t testing.TB, w, h int) *harness {
	t.Helper()
	hs := &harness{scr: newMemScreen(w, h), done: make(chan error, 1)}
	d, err := New(Config{
		OpenScreen: func() (Screen, error) { hs.opens.Add(1); return hs.scr, nil },
		NewDecoder: func() (Decoder, DecoderKind, string, error) {
			dec, err := SoftwareDecoder()
			return dec, media.EncoderSoftware, "", err
		},
		RequestKeyframe: func(uint32) { hs.plis.Add(1) },
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.d = d
	ctx, cancel := context.WithCancel(context.Background())
	hs.cancel = cancel
	go func() { hs.done <- d.Run(ctx) }()
	t.Cleanup(hs.stop)
	testenv.Eventually(t, 10*time.Second, "screen open", func() bool { return d.Status().State == media.SourceOK })
	return hs
}

func (hs *harness) stop() {
	if hs.cancel != nil {
		hs.cancel()
		<-hs.done
		hs.cancel = nil
	}
}

func TestCustomerOnScreen(t *testing.T) {
	hs := startDisplay(t, 640, 480)
	d := hs.d
	d.SetStatus("waiting for a customer")
	// The counter's own camera: the test pattern in YUYV, as a UVC camera.
	self := make([]byte, 320*240*2)
	for i := 0; i < len(self); i += 4 {
		self[i], self[i+1], self[i+2], self[i+3] = 145, 54, 145, 34 // green
	}
	d.SelfFrame(media.RawFrame{Data: self, Format: v4l2.PixFmtYUYV, Width: 320, Height: 240})

	cs := newCustomerStream(t, 640, 480, 10, 0xc0ffee)
	tr := newMemTrack()
	defer tr.close()
	d.SetCustomer(tr)
	cs.sendPaced(t, d, tr, 0, 10)
	// The samplebuilder hands out a unit when the next one begins (it
	// needs the following timestamp), so 9 of the 10 are shown.
	testenv.Eventually(t, 30*time.Second, "9 pictures shown", func() bool { return d.Status().Shown >= 9 })
	b, err := d.Capture(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := testsrc.Decode(lumaOf(b, 0), b.Width, b.Width)
	if err != nil {
		t.Fatalf("stamp on screen: %v", err)
	}
	if ms != cs.times[8] {
		t.Fatalf("screen shows stamp %d, want the ninth frame's %d", ms, cs.times[8])
	}
	_, sr := Layout(640, 480, 640, 480, 320, 240)
	r, g, bl := pixel(b, (sr.Min.X+sr.Max.X)/2, (sr.Min.Y+sr.Max.Y)/2)
	if g < 200 || r > 40 || bl > 40 {
		t.Fatalf("own picture corner is %d,%d,%d, want green", r, g, bl)
	}
	st := d.Status()
	if st.Decoder != media.EncoderSoftware || !st.Customer || st.DecodeErrors != 0 {
		t.Fatalf("status %+v", st)
	}

	// The customer leaves: the status screen comes back at once.
	d.SetCustomer(nil)
	testenv.Eventually(t, 10*time.Second, "status screen", func() bool {
		b, _ := d.Capture(context.Background())
		r, g, bl := pixel(b, 2, b.Height-2)
		return r == 0x10 && g == 0x24 && bl == 0x3a
	})
}

func TestKeyframeRequestedMidStream(t *testing.T) {
	hs := startDisplay(t, 320, 240)
	cs := newCustomerStream(t, 320, 240, 6, 7)
	tr := newMemTrack()
	defer tr.close()
	hs.d.SetCustomer(tr)
	cs.send(tr, 2, 6) // joined after the IDR: P pictures only
	testenv.Eventually(t, 10*time.Second, "a keyframe request", func() bool { return hs.plis.Load() > 0 })
	if hs.d.Status().Decoded != 0 {
		t.Fatal("P pictures without their IDR reached the decoder")
	}
	cs.send(tr, 0, 2) // the sender answers with an IDR (and the unit after it)
	testenv.Eventually(t, 10*time.Second, "the IDR shown", func() bool { return hs.d.Status().Shown >= 1 })
}

// TestCustomerChange switches customers again and again on one open
// screen and decoder: no reopen, no growth of goroutines, fds or heap.
// TETHER_DISPLAY_CHANGES=1000 is the long run of issue 15 (make bench).
func TestCustomerChange(t *testing.T) {
	n := 40
	if s := os.Getenv("TETHER_DISPLAY_CHANGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	hs := startDisplay(t, 320, 240)
	d := hs.d
	cs := newCustomerStream(t, 320, 240, 4, 42)
	change := func(i int) {
		tr := newMemTrack()
		d.SetCustomer(tr)
		before := d.Status().Shown
		cs.sendPaced(t, d, tr, 0, 4)
		testenv.Eventually(t, 30*time.Second, "customer "+strconv.Itoa(i)+" on screen", func() bool {
			return d.Status().Shown >= before+3
		})
		tr.close() // the peer connection closes: ReadRTP returns EOF
	}
	for i := 0; i < 5; i++ { // warm up: decoder open, buffers grown
		change(i)
	}
	d.SetCustomer(nil)
	g0, fd0, heap0 := testenv.Resources()
	for i := 0; i < n; i++ {
		change(i)
	}
	d.SetCustomer(nil)
	var g1, fd1 int
	var heap1 uint64
	testenv.Eventually(t, 10*time.Second, "readers ended", func() bool {
		g1, fd1, heap1 = testenv.Resources()
		return g1 <= g0
	})
	t.Logf("%d changes: goroutines %d -> %d, fds %d -> %d, heap %d -> %d KiB, screen opened %d time(s)",
		n, g0, g1, fd0, fd1, heap0>>10, heap1>>10, hs.opens.Load())
	if fd1 > fd0 {
		t.Errorf("fds grew %d -> %d", fd0, fd1)
	}
	if heap1 > heap0+4<<20 {
		t.Errorf("heap grew %d -> %d KiB", heap0>>10, heap1>>10)
	}
	if hs.opens.Load() != 1 {
		t.Errorf("screen opened %d times", hs.opens.Load())
	}
}

// BenchmarkFrame640x480 is issue 15's "CPU per decoded frame at 640x480",
// one op = one customer picture, with the baseline in the same run: the
// cost of encoding that picture with our own encoder, which the appliance
// already pays for every frame it sends. Sub-benchmarks:
//
//	encode-baseline  swenc, 640x480 I420 -> H.264
//	decode           swdec, H.264 -> I420
//	compose-720p     the call layout into a 1280x720 XRGB buffer
//	display          RTP packets -> samplebuilder -> decode -> compose -> present (whole Display)
//
// display also reports the process's peak RSS (VmHWM, MiB).
func BenchmarkFrame640x480(b *testing.B) {
	const w, h = 640, 480
	cs := newCustomerStream(b, w, h, 60, 9)
	b.Run("encode-baseline", func(b *testing.B) {
		e, err := swenc.NewH264(swenc.Config{Width: w, Height: h, Bitrate: 1_500_000, Sink: func(swenc.AccessUnit) {}})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		p, _ := testsrc.NewPattern(w, h)
		at := time.Now()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := e.Encode(context.Background(), swenc.Frame{Data: p.Render(uint64(i), at)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	var units [][]byte
	{
		sb := newSampleCollector()
		for _, u := range cs.units {
			sb.push(u)
		}
		units = sb.units
	}
	b.Run("decode", func(b *testing.B) {
		dec, err := SoftwareDecoder()
		if err != nil {
			b.Fatal(err)
		}
		defer dec.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := dec.Decode(units[i%len(units)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compose-720p", func(b *testing.B) {
		buf := newBuffer(1280, 720)
		cust := solid(w, h, 81, 90, 240)
		self := solid(320, 240, 145, 54, 34)
		var c Compositor
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c.Call(buf, cust, self)
		}
	})
	b.Run("display", func(b *testing.B) {
		hs := startDisplay(b, 1280, 720)
		self := make([]byte, 640*480*3/2)
		hs.d.SelfFrame(media.RawFrame{Data: self, Format: v4l2.PixFmtYUV420, Width: 640, Height: 480})
		tr := newMemTrack()
		defer tr.close()
		hs.d.SetCustomer(tr)
		b.ResetTimer()
		go func() {
			for i := 0; i <= b.N; i++ {
				k := i % len(cs.units)
				cs.send(tr, k, k+1)
			}
		}()
		// Until every picture is shown, or none more for 3 s (a unit
		// dropped on a loaded machine costs the rest of its GOP).
		last, since := uint64(0), time.Now()
		for {
			n := hs.d.Status().Shown
			if n >= uint64(b.N) || time.Since(since) > 3*time.Second {
				break
			}
			if n != last {
				last, since = n, time.Now()
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(testenv.ProcStatusMiB(os.Getpid(), "VmHWM:"), "MiB-peak-RSS")
		tr.close() // the customer leaves before the display stops
		st := hs.d.Status()
		b.ReportMetric(float64(st.Shown)/float64(b.N), "shown/op")
		if st.Dropped != 0 || st.DecodeErrors != 0 {
			b.Logf("status %+v", st)
		}
		hs.stop()
	})
}

// sampleCollector turns packets back into units with pion's samplebuilder
// (as the reader does), for the decode-only benchmark.
type sampleCollector struct {
	sb    *samplebuilder.SampleBuilder
	units [][]byte
}

func newSampleCollector() *sampleCollector {
	return &sampleCollector{sb: samplebuilder.New(512, &codecs.H264Packet{}, 90000)}
}

func (s *sampleCollector) push(pkts []*rtp.Packet) {
	for _, p := range pkts {
		s.sb.Push(p)
	}
	for x := s.sb.Pop(); x != nil; x = s.sb.Pop() {
		s.units = append(s.units, x.Data)
	}
}
