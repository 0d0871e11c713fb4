package v4l2m2m

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/internal/testenv"
	"tether/media/v4l2"
	"tether/media/v4l2/v4l2fake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testW, testH = 640, 480

// sink collects copies of the access units.
type sink struct {
	mu  sync.Mutex
	aus []AccessUnit
	got chan struct{} // one token per unit
}

func newSink() *sink { return &sink{got: make(chan struct{}, 1024)} }

func (s *sink) fn(au AccessUnit) {
	s.mu.Lock()
	au.Data = append([]byte(nil), au.Data...)
	s.aus = append(s.aus, au)
	s.mu.Unlock()
	s.got <- struct{}{}
}

func (s *sink) units() []AccessUnit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AccessUnit(nil), s.aus...)
}

// wait blocks until n more units arrived (bounded).
func (s *sink) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-s.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for access unit %d of %d", i+1, n)
		}
	}
}

type harness struct {
	t     *testing.T
	fake  *v4l2fake.Fake
	enc   *Encoder
	sink  *sink
	logs  *testenv.SyncBuffer
	clk   *clockwork.FakeClock
	run   *runState
	stop  context.CancelFunc
	frame []byte
	n     int
}

func newHarness(t *testing.T, fake *v4l2fake.Fake, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, fake: fake, sink: newSink(), logs: &testenv.SyncBuffer{}, clk: clockwork.NewFakeClockAt(time.Unix(0, 0))}
	cfg := Config{
		Open:        func() (v4l2.Device, error) { return h.fake, nil },
		Width:       testW,
		Height:      testH,
		FrameRate:   30,
		Bitrate:     1_000_000,
		Sink:        h.sink.fn,
		Clock:       h.clk,
		PollTimeout: 20 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	enc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.enc = enc
	size, _ := frameSize(enc.cfg.PixelFormat, testW, testH)
	h.frame = make([]byte, size)
	return h
}

// runState is one Run in the background.
type runState struct {
	done chan struct{}
	err  error
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	r := &runState{done: make(chan struct{})}
	h.run = r
	go func() { r.err = h.enc.Run(ctx); close(r.done) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			h.t.Error("Run did not return")
		}
	})
}

// encode sends one frame whose first byte and timestamp carry its number.
func (h *harness) encode() error {
	h.t.Helper()
	h.frame[0] = byte(h.n)
	ts := time.Duration(h.n) * 33333 * time.Microsecond
	h.n++
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return h.enc.Encode(ctx, Frame{Data: h.frame, Timestamp: ts})
}

func (h *harness) mustEncode(n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		if err := h.encode(); err != nil {
			h.t.Fatalf("Encode frame %d: %v", h.n-1, err)
		}
	}
}

// finish cancels Run and returns its error (bounded).
func (h *harness) finish() error {
	h.t.Helper()
	h.stop()
	return h.result()
}

func (h *harness) result() error {
	h.t.Helper()
	select {
	case <-h.run.done:
		return h.run.err
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

func (h *harness) assertReleased() {
	h.t.Helper()
	if n := h.fake.Mapped(); n != 0 {
		h.t.Errorf("%d buffers still mmapped after Run", n)
	}
	if !h.fake.Closed() {
		h.t.Error("device not closed after Run")
	}
}

func TestFormatNegotiation(t *testing.T) {
	for _, mp := range []bool{true, false} {
		for _, pix := range []uint32{v4l2.PixFmtNV12, v4l2.PixFmtYUV420, v4l2.PixFmtYUYV} {
			name := v4l2.FourccString(pix)
			if mp {
				name += "/mplane"
			} else {
				name += "/single"
			}
			t.Run(name, func(t *testing.T) {
				fake := v4l2fake.NewFake()
				fake.MPlane = mp
				var got []byte
				fake.OnFrame = func(d []byte, _ v4l2.Timeval) { got = append(got[:0], d...) }
				h := newHarness(t, fake, func(c *Config) { c.PixelFormat = pix })
				for i := range h.frame {
					h.frame[i] = byte(i * 7)
				}
				h.start()
				h.mustEncode(1)
				h.sink.wait(t, 1)

				out, capt := v4l2.BufTypeVideoOutput, v4l2.BufTypeVideoCapture
				if mp {
					out, capt = v4l2.BufTypeVideoOutputMPlane, v4l2.BufTypeVideoCaptureMPlane
				}
				of, cf := fake.Format(out), fake.Format(capt)
				w, hh, p, bpl, _ := fmtInfo(&of)
				if p != pix || w != testW || hh != testH {
					t.Errorf("OUTPUT format %s %dx%d", v4l2.FourccString(p), w, hh)
				}
				if _, _, cp, _, _ := fmtInfo(&cf); cp != v4l2.PixFmtH264 {
					t.Errorf("CAPTURE format %s", v4l2.FourccString(cp))
				}
				// The fake pads strides to 32 bytes; the frame must have
				// landed row by row at the driver's stride.
				rowBytes := testW
				if pix == v4l2.PixFmtYUYV {
					rowBytes = 2 * testW
				}
				if len(got) < int(bpl)*2 || !bytes.Equal(got[bpl:int(bpl)+rowBytes], h.frame[rowBytes:2*rowBytes]) {
					t.Errorf("second row not at stride %d", bpl)
				}
				if err := h.finish(); err != nil {
					t.Errorf("Run: %v", err)
				}
				h.assertReleased()
			})
		}
	}
}

func TestSetupRefusals(t *testing.T) {
	tests := []struct {
		name string
		fake func(*v4l2fake.Fake)
		cfg  func(*Config)
		want error
	}{
		{"no H.264 on CAPTURE", func(f *v4l2fake.Fake) { f.Coded = []uint32{v4l2.PixFmtFWHT} }, nil, ErrNotEncoder},
		{"raw format substituted", func(f *v4l2fake.Fake) { f.Raw = []uint32{v4l2.PixFmtYUYV} }, nil, ErrFormat},
		{"device gone at QUERYCAP", func(f *v4l2fake.Fake) {
			f.Fail = func(op v4l2fake.Op) error {
				if op == v4l2fake.OpQueryCap {
					return syscall.ENODEV
				}
				return nil
			}
		}, nil, ErrDeviceGone},
		{"REQBUFS refused", func(f *v4l2fake.Fake) {
			f.Fail = func(op v4l2fake.Op) error {
				if op == v4l2fake.OpReqBufs {
					return syscall.ENOMEM
				}
				return nil
			}
		}, nil, syscall.ENOMEM},
		{"FWHT accepted when configured", func(f *v4l2fake.Fake) { f.Coded = []uint32{v4l2.PixFmtFWHT} },
			func(c *Config) { c.CodedFormat = v4l2.PixFmtFWHT }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := v4l2fake.NewFake()
			tt.fake(fake)
			h := newHarness(t, fake, tt.cfg)
			h.start()
			if tt.want == nil {
				h.mustEncode(2)
				h.sink.wait(t, 2)
				if err := h.finish(); err != nil {
					t.Fatalf("Run: %v", err)
				}
			} else if err := h.result(); !errors.Is(err, tt.want) {
				t.Fatalf("Run: %v, want %v", err, tt.want)
			}
			h.assertReleased()
		})
	}
}

func TestBufferCycling(t *testing.T) {
	fake := v4l2fake.NewFake()
	var seen []byte
	fake.OnFrame = func(d []byte, _ v4l2.Timeval) { seen = append(seen, d[0]) }
	h := newHarness(t, fake, func(c *Config) { c.OutputBuffers, c.CaptureBuffers = 2, 3 })
	// While the sink holds a unit, every other CAPTURE buffer must be back
	// with the driver: a leaked buffer shows up at once.
	var leaks []int
	inner := h.enc.cfg.Sink
	h.enc.cfg.Sink = func(au AccessUnit) {
		if q := fake.Queued(v4l2.BufTypeVideoCaptureMPlane); q != 2 {
			leaks = append(leaks, q)
		}
		inner(au)
	}
	h.start()
	const n = 200 // many times the buffer count: every buffer must come back
	for i := 0; i < n; i++ {
		h.mustEncode(1)
		h.sink.wait(t, 1)
	}
	aus := h.sink.units()
	if len(aus) != n {
		t.Fatalf("%d access units, want %d", len(aus), n)
	}
	for i, au := range aus {
		if want := time.Duration(i) * 33333 * time.Microsecond; au.Timestamp != want {
			t.Fatalf("unit %d timestamp %v, want %v", i, au.Timestamp, want)
		}
		if au.Sequence != uint32(i) {
			t.Fatalf("unit %d sequence %d", i, au.Sequence)
		}
	}
	for i, b := range seen {
		if b != byte(i) {
			t.Fatalf("frame %d carried %d: frames reordered or not copied", i, b)
		}
	}
	if len(leaks) > 0 {
		t.Errorf("CAPTURE buffers with the driver during delivery: %v, want 2 of 3 each time", leaks[:min(len(leaks), 10)])
	}
	st := h.enc.Stats()
	if st.Frames != n || st.Units != n {
		t.Errorf("stats %+v", st)
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	h.assertReleased()
	if fake.Streaming(v4l2.BufTypeVideoOutputMPlane) || fake.Streaming(v4l2.BufTypeVideoCaptureMPlane) {
		t.Error("still streaming after Run")
	}
}

func TestForceKeyframe(t *testing.T) {
	fake := v4l2fake.NewFake()
	h := newHarness(t, fake, func(c *Config) { c.KeyframeInterval = 1000 })
	h.start()
	h.mustEncode(10)
	h.sink.wait(t, 10)
	h.enc.ForceKeyframe()
	h.mustEncode(2)
	h.sink.wait(t, 2)
	aus := h.sink.units()
	for i, au := range aus {
		a := scanAU(au.Data)
		wantKey := i == 0 || i == 10
		if au.Keyframe != wantKey || a.idr != wantKey {
			t.Errorf("unit %d: keyframe %v idr %v, want %v", i, au.Keyframe, a.idr, wantKey)
		}
		if wantKey && !(a.sps && a.pps) {
			t.Errorf("unit %d: keyframe without SPS/PPS (REPEAT_SEQ_HEADER)", i)
		}
	}
	if v, _ := fake.Control(v4l2.CIDMPEGVideoRepeatSeqHeader); v != 1 {
		t.Error("REPEAT_SEQ_HEADER not set")
	}
	if fake.Stats().Forced != 1 || h.enc.Stats().ForcedKeys != 1 {
		t.Errorf("forced: fake %d, encoder %d", fake.Stats().Forced, h.enc.Stats().ForcedKeys)
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
}

func TestConfiguredControls(t *testing.T) {
	fake := v4l2fake.NewFake()
	h := newHarness(t, fake, func(c *Config) {
		c.KeyframeInterval, c.MinQP, c.MaxQP, c.Level = 90, 20, 40, v4l2.H264Level3_1
	})
	h.start()
	h.mustEncode(1)
	h.sink.wait(t, 1)
	want := map[uint32]int64{
		v4l2.CIDMPEGVideoBitrate:         1_000_000,
		v4l2.CIDMPEGVideoBitrateMode:     v4l2.BitrateModeCBR,
		v4l2.CIDMPEGVideoH264IPeriod:     90,
		v4l2.CIDMPEGVideoH264Profile:     v4l2.H264ProfileConstrainedBaseline,
		v4l2.CIDMPEGVideoH264Level:       v4l2.H264Level3_1,
		v4l2.CIDMPEGVideoRepeatSeqHeader: 1,
		v4l2.CIDMPEGVideoH264MinQP:       20,
		v4l2.CIDMPEGVideoH264MaxQP:       40,
	}
	for id, w := range want {
		if v, _ := fake.Control(id); v != w {
			t.Errorf("%s = %d, want %d", ctrlName(id), v, w)
		}
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
}

func TestBitrateChangeMidStream(t *testing.T) {
	fake := v4l2fake.NewFake()
	h := newHarness(t, fake, func(c *Config) { c.KeyframeInterval = 1000 })
	h.start()
	h.mustEncode(5)
	h.sink.wait(t, 5)
	h.enc.SetBitrate(4_000_000)
	h.mustEncode(5)
	h.sink.wait(t, 5)
	aus := h.sink.units()
	before, after := len(aus[4].Data), len(aus[9].Data)
	if after < 3*before {
		t.Errorf("P-frame size %d -> %d after 4x bitrate", before, after)
	}
	if v, _ := fake.Control(v4l2.CIDMPEGVideoBitrate); v != 4_000_000 {
		t.Errorf("BITRATE = %d", v)
	}
	if h.enc.Stats().BitrateSets != 1 {
		t.Errorf("BitrateSets = %d", h.enc.Stats().BitrateSets)
	}
	if !fake.Streaming(v4l2.BufTypeVideoOutputMPlane) {
		t.Error("bitrate change stopped streaming")
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
}

func TestEAGAIN(t *testing.T) {
	fake := v4l2fake.NewFake()
	var mu sync.Mutex
	budget := 0
	fake.Fail = func(op v4l2fake.Op) error {
		mu.Lock()
		defer mu.Unlock()
		if op == v4l2fake.OpDQBuf && budget > 0 {
			budget--
			return syscall.EAGAIN // spurious: poll said ready, DQBUF disagrees
		}
		return nil
	}
	h := newHarness(t, fake, nil)
	h.start()
	for i := 0; i < 20; i++ {
		mu.Lock()
		budget = 3
		mu.Unlock()
		h.mustEncode(1)
		h.sink.wait(t, 1)
	}
	if got := len(h.sink.units()); got != 20 {
		t.Fatalf("%d units, want 20", got)
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	h.assertReleased()
}

func TestControlEINVAL(t *testing.T) {
	tests := []struct {
		name   string
		refuse map[uint32]bool
		drop   []uint32 // controls the driver lacks entirely
		logged []string
	}{
		{"optional controls refused", map[uint32]bool{
			v4l2.CIDMPEGVideoH264Level: true, v4l2.CIDMPEGVideoH264MinQP: true,
			v4l2.CIDMPEGVideoForceKeyFrame: true, v4l2.CIDMPEGVideoBitrate: true,
		}, nil, []string{"H264_LEVEL", "H264_MIN_QP", "FORCE_KEY_FRAME", "BITRATE"}},
		{"vicodec-like: no H.264 controls", nil, []uint32{
			v4l2.CIDMPEGVideoH264Profile, v4l2.CIDMPEGVideoH264Level, v4l2.CIDMPEGVideoH264IPeriod,
			v4l2.CIDMPEGVideoRepeatSeqHeader, v4l2.CIDMPEGVideoForceKeyFrame, v4l2.CIDMPEGVideoBitrateMode,
		}, []string{"H264_PROFILE", "REPEAT_SEQ_HEADER", "FORCE_KEY_FRAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := v4l2fake.NewFake()
			for _, id := range tt.drop {
				delete(fake.Controls, id)
			}
			fake.ControlErr = func(id uint32, _ int64) error {
				if tt.refuse[id] {
					return syscall.EINVAL
				}
				return nil
			}
			h := newHarness(t, fake, func(c *Config) { c.MinQP, c.MaxQP = 10, 40 })
			h.start()
			h.mustEncode(3)
			h.sink.wait(t, 3)
			h.enc.ForceKeyframe()
			h.enc.SetBitrate(3_000_000)
			h.mustEncode(3)
			h.enc.ForceKeyframe() // refused before: not retried, no error
			h.mustEncode(1)
			h.sink.wait(t, 4)
			if err := h.finish(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			logs := h.logs.String()
			for _, c := range tt.logged {
				if !bytes.Contains([]byte(logs), []byte("control="+c)) {
					t.Errorf("refusal of %s not logged:\n%s", c, logs)
				}
			}
			if v, _ := fake.Control(v4l2.CIDMPEGVideoH264MaxQP); v != 40 {
				t.Errorf("accepted control MAX_QP = %d, want 40", v)
			}
		})
	}
}

func TestDeviceVanishes(t *testing.T) {
	first := v4l2fake.NewFake()
	h := newHarness(t, first, nil)
	h.start()
	h.mustEncode(5)
	h.sink.wait(t, 5)
	first.Vanish()
	err := h.result()
	if !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("Run: %v, want ErrDeviceGone", err)
	}
	h.assertReleased()
	if h.enc.State() != StateIdle {
		t.Errorf("state %v after Run", h.enc.State())
	}

	// Recovery: the supervisor runs the same Encoder again on a new node.
	h.fake = v4l2fake.NewFake()
	h.start()
	h.mustEncode(5)
	h.sink.wait(t, 5)
	if err := h.finish(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if got := h.enc.Stats().Units; got != 10 {
		t.Errorf("units over both runs %d, want 10", got)
	}
}

func TestVanishDuringEncode(t *testing.T) {
	fake := v4l2fake.NewFake()
	h := newHarness(t, fake, nil)
	h.start()
	h.mustEncode(2)
	h.sink.wait(t, 2)
	fake.SetFail(func(op v4l2fake.Op) error {
		if op == v4l2fake.OpQBuf {
			return syscall.ENODEV
		}
		return nil
	})
	// Either this frame's QBUF fails, or the re-queue of the previous
	// CAPTURE buffer already ended Run: both answer at once.
	if err := h.encode(); !errors.Is(err, ErrDeviceGone) && !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Encode: %v, want ErrDeviceGone or ErrNotRunning", err)
	}
	if err := h.result(); !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("Run: %v", err)
	}
	h.assertReleased()
}

func TestDrain(t *testing.T) {
	t.Run("last frame carries LAST", func(t *testing.T) {
		fake := v4l2fake.NewFake()
		stopSent := make(chan struct{}, 1)
		fake.Fail = func(op v4l2fake.Op) error {
			if op == v4l2fake.OpEncoderCmd {
				stopSent <- struct{}{}
			}
			return nil
		}
		h := newHarness(t, fake, nil)
		h.start()
		h.mustEncode(1)
		h.sink.wait(t, 1)
		fake.Pause() // frames now wait inside the "hardware"
		h.mustEncode(2)
		h.stop()
		<-stopSent
		fake.Resume()
		if err := h.result(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := len(h.sink.units()); got != 3 {
			t.Errorf("%d units after drain, want 3 (queued frames must come out)", got)
		}
		if fake.Stats().Drains != 1 {
			t.Error("no V4L2_ENC_CMD_STOP")
		}
		h.assertReleased()
	})
	t.Run("empty LAST buffer", func(t *testing.T) {
		fake := v4l2fake.NewFake()
		h := newHarness(t, fake, nil)
		h.start()
		h.mustEncode(3)
		h.sink.wait(t, 3)
		if err := h.finish(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := len(h.sink.units()); got != 3 {
			t.Errorf("%d units (an empty LAST buffer must not reach the sink)", got)
		}
	})
	t.Run("no STOP command", func(t *testing.T) {
		fake := v4l2fake.NewFake()
		fake.Fail = func(op v4l2fake.Op) error {
			if op == v4l2fake.OpEncoderCmd {
				return syscall.ENOTTY
			}
			return nil
		}
		h := newHarness(t, fake, nil)
		h.start()
		h.mustEncode(1)
		h.sink.wait(t, 1)
		if err := h.finish(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		h.assertReleased()
	})
	t.Run("timeout", func(t *testing.T) {
		fake := v4l2fake.NewFake()
		stopSent := make(chan struct{}, 1)
		fake.Fail = func(op v4l2fake.Op) error {
			if op == v4l2fake.OpEncoderCmd {
				stopSent <- struct{}{}
			}
			return nil
		}
		h := newHarness(t, fake, nil)
		h.start()
		fake.Pause()
		h.mustEncode(1)
		h.stop()
		<-stopSent
		// The drain timer is armed right after ENCODER_CMD returns; step
		// the clock until Run gives up.
		for i := 0; ; i++ {
			h.clk.Advance(h.enc.cfg.DrainTimeout)
			select {
			case <-h.run.done:
				if err := h.run.err; !errors.Is(err, ErrDrainTimeout) {
					t.Fatalf("Run: %v, want ErrDrainTimeout", err)
				}
				h.assertReleased()
				return
			case <-time.After(20 * time.Millisecond):
			}
			if i > 200 {
				t.Fatal("Run did not give up draining")
			}
		}
	})
}

func TestStall(t *testing.T) {
	fake := v4l2fake.NewFake()
	h := newHarness(t, fake, nil)
	h.start()
	fake.Pause()
	h.mustEncode(1)
	for i := 0; ; i++ {
		h.clk.Advance(h.enc.cfg.StallTimeout / 2)
		select {
		case <-h.run.done:
			if err := h.run.err; !errors.Is(err, ErrStalled) {
				t.Fatalf("Run: %v, want ErrStalled", err)
			}
			h.assertReleased()
			return
		case <-time.After(20 * time.Millisecond):
		}
		if i > 200 {
			t.Fatal("stall not detected")
		}
	}
}

func TestShortFrame(t *testing.T) {
	h := newHarness(t, v4l2fake.NewFake(), nil)
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.enc.Encode(ctx, Frame{Data: make([]byte, 100)}); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("Encode: %v, want ErrFrameSize", err)
	}
	h.mustEncode(3) // the encoder carries on, no buffer lost
	h.sink.wait(t, 3)
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
}

func TestDMABufInput(t *testing.T) {
	fake := v4l2fake.NewFake()
	var released sync.WaitGroup
	h := newHarness(t, fake, func(c *Config) { c.InputMemory = v4l2.MemoryDMABuf })
	h.start()
	const n = 12
	released.Add(n)
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.enc.Encode(ctx, Frame{DMABuf: 100 + i%4, Timestamp: time.Duration(i) * time.Millisecond, Release: released.Done})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		h.sink.wait(t, 1)
	}
	done := make(chan struct{})
	go func() { released.Wait(); close(done) }()
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("not every DMABUF frame was released")
	}
}

func TestEncodeWhenIdle(t *testing.T) {
	h := newHarness(t, v4l2fake.NewFake(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	released := false
	if err := h.enc.Encode(ctx, Frame{Data: h.frame, Release: func() { released = true }}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Encode without Run: %v", err)
	}
	if !released {
		t.Error("refused frame not released")
	}
}

func TestConfigValidation(t *testing.T) {
	ok := func(c *Config) {}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", ok, true},
		{"odd width", func(c *Config) { c.Width = 641 }, false},
		{"no sink", func(c *Config) { c.Sink = nil }, false},
		{"no open", func(c *Config) { c.Open = nil }, false},
		{"bad raw format", func(c *Config) { c.PixelFormat = v4l2.PixFmtMJPEG }, false},
		{"QP inverted", func(c *Config) { c.MinQP, c.MaxQP = 40, 20 }, false},
		{"userptr", func(c *Config) { c.InputMemory = v4l2.MemoryUserPtr }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Open: func() (v4l2.Device, error) { return nil, nil }, Sink: func(AccessUnit) {}, Width: 640, Height: 480}
			tt.mod(&c)
			_, err := New(c)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, v4l2fake.NewFake(), nil)
	h.start()
	h.mustEncode(1)
	h.sink.wait(t, 1)
	if err := h.enc.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestCorruptBuffer(t *testing.T) {
	fake := v4l2fake.NewFake()
	fake.Corrupt = func(n int) bool { return n == 3 }
	h := newHarness(t, fake, nil)
	h.start()
	for i := 0; i < 10; i++ {
		h.mustEncode(1)
		if i != 3 {
			h.sink.wait(t, 1)
		}
	}
	aus := h.sink.units()
	if len(aus) != 9 {
		t.Fatalf("%d units, want 9 (the corrupt one dropped)", len(aus))
	}
	for _, au := range aus {
		if au.Sequence == 3 {
			t.Error("corrupt unit reached the sink")
		}
	}
	if st := h.enc.Stats(); st.Errors != 1 || st.Frames != 10 {
		t.Errorf("stats %+v", st)
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	h.assertReleased()
}
