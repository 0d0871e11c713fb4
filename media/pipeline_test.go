package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"tether/media/h264"
	"tether/media/testsrc"
	"tether/media/v4l2"
	"tether/media/v4l2m2m"
)

const tw, th = 320, 240

// harness runs a Pipeline over fakes and a mock clock.
type harness struct {
	t       *testing.T
	p       *Pipeline
	mock    *clockwork.FakeClock
	sw, hw  fakeFactory
	video   *recorder
	audio   *recorder
	opens   chan any // what the next OpenCamera returns: *fakeCamera or error
	changes chan Status
	cancel  context.CancelFunc
	done    chan error
	start   time.Time
}

func newHarness(t *testing.T, mod func(h *harness, c *Config)) *harness {
	t.Helper()
	h := &harness{t: t, mock: clockwork.NewFakeClockAt(time.Unix(0, 0)), video: newRecorder(), audio: newRecorder(),
		opens: make(chan any, 16), changes: make(chan Status, 256)}
	h.start = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	h.mock.Advance(h.start.Sub(h.mock.Now()))
	cfg := Config{
		Width: tw, Height: th, FPS: 30, Clock: h.mock,
		Encoders: []EncoderFactory{h.sw.factory(EncoderSoftware)},
		OpenCamera: func() (VideoSource, error) {
			select {
			case v := <-h.opens:
				if err, ok := v.(error); ok {
					return nil, err
				}
				return v.(*fakeCamera), nil
			default:
				return nil, fmt.Errorf("fake: %w", ErrNoDevice)
			}
		},
		TestAudio:       true,
		NewAudioEncoder: func(int) (AudioEncoder, error) { return &fakeOpus{}, nil },
		OnChange: func(s Status) {
			select {
			case h.changes <- s:
			default:
			}
		},
	}
	if mod != nil {
		mod(h, &cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.videoW, p.audioW = h.video, h.audio
	h.p = p
	return h
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.p.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("Run did not return within 5s of cancel")
	}
	h.cancel = nil
}

// waitState advances the mock clock in steps until pred holds for the
// status, bounded by 5 s of real time.
func (h *harness) waitState(what string, step time.Duration, pred func(Status) bool) Status {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s := h.p.Status(); pred(s) {
			return s
		}
		select {
		case <-h.changes:
		case <-time.After(2 * time.Millisecond):
			if step > 0 {
				h.mock.Advance(step)
			}
		}
	}
	h.t.Fatalf("%s: not reached; status %+v", what, h.p.Status())
	return Status{}
}

// i420 renders a test-pattern frame.
func i420(t testing.TB, n int, at time.Time) RawFrame {
	p, err := testsrc.NewPattern(tw, th)
	if err != nil {
		t.Fatal(err)
	}
	return RawFrame{Data: bytes.Clone(p.Render(uint64(n), at)), Format: v4l2.PixFmtYUV420, Width: tw, Height: th, Time: at}
}

func newCam() *fakeCamera { return &fakeCamera{frames: make(chan any, 64)} }

func TestCameraToTrack(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs after the harness stops
	cam := newCam()
	h := newHarness(t, nil)
	h.opens <- cam
	h.run()
	for i := 0; i < 3; i++ {
		cam.frames <- i420(t, i, h.start.Add(time.Duration(i)*40*time.Millisecond))
	}
	s0, s1, s2 := h.video.next(t), h.video.next(t), h.video.next(t)
	if !isKey(s0.Data) || !h264.Scan(s0.Data).SPS || isKey(s1.Data) || isKey(s2.Data) {
		t.Fatalf("want IDR (with SPS) then P, P: %x %x %x", s0.Data, s1.Data, s2.Data)
	}
	if s0.Duration != time.Second/30 || s1.Duration != 40*time.Millisecond {
		t.Fatalf("durations %v %v, want 1/30 s then the capture spacing 40ms", s0.Duration, s1.Duration)
	}
	st := h.p.Status()
	if st.Camera != SourceOK || st.Encoder != EncoderSoftware || st.Frames != 3 || st.Keyframes != 1 ||
		st.Width != tw || st.Height != th {
		t.Fatalf("status %+v", st)
	}
	t.Run("RequestKeyframe answers at the next frame", func(t *testing.T) {
		h.p.RequestKeyframe()
		h.p.RequestKeyframe() // coalesces
		h.mock.Advance(25 * time.Millisecond)
		cam.frames <- i420(t, 3, h.start.Add(120*time.Millisecond))
		s := h.video.next(t)
		if in := h264.Scan(s.Data); !in.IDR || !in.SPS || !in.PPS {
			t.Fatalf("frame after RequestKeyframe: %+v", in)
		}
		cam.frames <- i420(t, 4, h.start.Add(160*time.Millisecond))
		if s := h.video.next(t); isKey(s.Data) {
			t.Fatal("two keyframes for two coalesced requests")
		}
		st := h.p.Status()
		if st.KeyframeRequests != 2 || st.KeyframeLatency != 25*time.Millisecond || st.Keyframes != 2 {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("an IDR without parameter sets gets the cached ones", func(t *testing.T) {
		h.sw.last().bareIDR.Store(true)
		h.p.RequestKeyframe()
		cam.frames <- i420(t, 5, h.start.Add(200*time.Millisecond))
		s := h.video.next(t)
		want := append(append(bytes.Clone(fakeSPS), fakePPS...), fakeIDR...)
		if !bytes.Equal(s.Data, want) {
			t.Fatalf("sample %x, want %x", s.Data, want)
		}
	})
	t.Run("SetBitrate clamps and reaches the encoder", func(t *testing.T) {
		h.p.SetBitrate(1)
		if got := h.sw.last().bitrate.Load(); got != 150_000 {
			t.Fatalf("encoder bitrate %d, want the 150k floor", got)
		}
		h.p.SetBitrate(1 << 30)
		if got := h.p.Status().Bitrate; got != 4_000_000 {
			t.Fatalf("bitrate %d, want the 4M ceiling", got)
		}
	})
	t.Run("fps over a second of the clock", func(t *testing.T) {
		h.waitState("fps", 500*time.Millisecond, func(s Status) bool { return s.FPS > 0 })
	})
	h.stop()
	if !cam.closed.Load() {
		t.Fatal("camera not closed when Run ended")
	}
	// A second Run after the first ended is allowed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.p.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, nil)
	h.run()
	h.waitState("started", 0, func(s Status) bool { return s.Camera != SourceStarting })
	if err := h.p.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestCameraUnplugReplug(t *testing.T) {
	cam := newCam()
	h := newHarness(t, nil)
	h.opens <- cam
	h.run()
	cam.frames <- i420(t, 0, h.start)
	h.video.next(t)

	// Unplugged: the capture fails with ENODEV, and the node is gone for
	// two attempts.
	h.opens <- fmt.Errorf("open /dev/video0: %w", ErrNoDevice)
	h.opens <- fmt.Errorf("open /dev/video0: %w", ErrNoDevice)
	cam.frames <- fmt.Errorf("VIDIOC_DQBUF: %w", syscall.ENODEV)
	st := h.waitState("reopening", 0, func(s Status) bool { return s.Camera == SourceReopening })
	if st.CameraError == "" {
		t.Fatal("no camera error reported")
	}
	if !cam.closed.Load() {
		t.Fatal("lost camera not closed")
	}
	// Replugged: the third open succeeds after backoff on the clock.
	cam2 := newCam()
	h.opens <- cam2
	h.waitState("ok again", 250*time.Millisecond, func(s Status) bool { return s.Camera == SourceOK })
	cam2.frames <- i420(t, 1, h.start.Add(time.Minute))
	if s := h.video.next(t); len(s.Data) == 0 {
		t.Fatal("empty sample after replug")
	}
	// The encoder and the track lived through it.
	h.sw.mu.Lock()
	made := len(h.sw.made)
	h.sw.mu.Unlock()
	if made != 1 {
		t.Fatalf("%d encoders made, want 1 (kept across the replug)", made)
	}
}

func TestCameraSelection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		open      any // first OpenCamera result
		testVideo bool
		want      SourceState
	}{
		{"no device at start-up is missing, not the test pattern", fmt.Errorf("x: %w", ErrNoDevice), false, SourceMissing},
		{"flag selects the test pattern", newCam(), true, SourceTest},
		{"unusable device is failed", errors.New("VIDIOC_S_FMT: EINVAL"), false, SourceFailed},
		{"camera present", newCam(), false, SourceOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(h *harness, c *Config) { c.TestVideo = tc.testVideo })
			h.opens <- tc.open
			h.run()
			h.waitState(tc.want.String(), 0, func(s Status) bool { return s.Camera == tc.want })
			if tc.want == SourceMissing {
				// Nothing stands in for a missing camera: a second of
				// the clock passes and no frame reaches the track.
				for i := 0; i < 30; i++ {
					h.mock.Advance(time.Second / 30)
				}
				select {
				case s := <-h.video.ch:
					t.Fatalf("a frame (%d bytes) was sent without a camera", len(s.Data))
				case <-time.After(50 * time.Millisecond):
				}
				if st := h.p.Status(); st.Camera != SourceMissing || st.CameraError == "" || st.Frames != 0 {
					t.Fatalf("status %+v", st)
				}
				return
			}
			if tc.want != SourceTest {
				return
			}
			// The test pattern paces on the clock and carries its stamp.
			for i := 0; i < 2; i++ {
				var got bool
				for deadline := time.Now().Add(5 * time.Second); !got && time.Now().Before(deadline); {
					h.mock.Advance(time.Second / 30)
					select {
					case <-h.video.ch:
						got = true
					case <-time.After(5 * time.Millisecond):
					}
				}
				if !got {
					t.Fatal("no frame from the test pattern")
				}
			}
			ms, err := testsrc.Decode(h.sw.last().last(), tw, tw)
			if err != nil || ms < uint64(h.start.UnixMilli()) {
				t.Fatalf("stamp %d (%v), want a time after %d", ms, err, h.start.UnixMilli())
			}
		})
	}
}

func TestHardwareFallsBackToSoftware(t *testing.T) {
	cam := newCam()
	h := newHarness(t, func(h *harness, c *Config) {
		h.hw.encErr = func() error { return fmt.Errorf("VIDIOC_QBUF: %w", v4l2m2m.ErrDeviceGone) }
		c.Encoders = []EncoderFactory{h.hw.factory(EncoderHardware, v4l2.PixFmtNV12), h.sw.factory(EncoderSoftware)}
	})
	h.opens <- cam
	h.run()
	h.waitState("hardware chosen", 0, func(s Status) bool { return s.EncoderDevice == "fake-hardware" })
	deadline := time.Now().Add(5 * time.Second)
	for h.p.Status().Encoder != EncoderSoftware && time.Now().Before(deadline) {
		select {
		case cam.frames <- i420(t, 0, h.mock.Now()):
		default:
		}
		h.mock.Advance(time.Second)
		time.Sleep(time.Millisecond) // let the video goroutine reach its backoff timer
	}
	st := h.p.Status()
	if st.Encoder != EncoderSoftware {
		t.Fatalf("no fallback to software: %+v", st)
	}
	if st.Dropped < hwFallbackAfter {
		t.Fatalf("dropped %d frames, want at least %d failed ones", st.Dropped, hwFallbackAfter)
	}
	cam.frames <- i420(t, 1, h.mock.Now())
	if s := h.video.next(t); !isKey(s.Data) {
		t.Fatal("first software frame is no keyframe")
	}
}

func TestFormats(t *testing.T) {
	src := i420(t, 7, time.Unix(1_700_000_000, 0))
	nv12, yuyv := toNV12(src.Data), toYUYV(src.Data)
	for _, tc := range []struct {
		name    string
		frame   RawFrame
		formats []uint32 // the encoder takes these besides I420
		wantPix uint32
	}{
		{"NV12 converted for software", RawFrame{Data: nv12, Format: v4l2.PixFmtNV12}, nil, v4l2.PixFmtYUV420},
		{"YUYV converted for software", RawFrame{Data: yuyv, Format: v4l2.PixFmtYUYV}, nil, v4l2.PixFmtYUV420},
		{"YUYV straight into hardware", RawFrame{Data: yuyv, Format: v4l2.PixFmtYUYV}, []uint32{v4l2.PixFmtYUYV}, v4l2.PixFmtYUYV},
		{"I420 as is", RawFrame{Data: src.Data, Format: v4l2.PixFmtYUV420}, nil, v4l2.PixFmtYUV420},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := newCam()
			h := newHarness(t, func(h *harness, c *Config) {
				c.Encoders = []EncoderFactory{h.sw.factory(EncoderSoftware, tc.formats...)}
			})
			h.opens <- cam
			h.run()
			f := tc.frame
			f.Width, f.Height, f.Time = tw, th, src.Time
			cam.frames <- f
			h.video.next(t)
			e := h.sw.last()
			if e.cfg.PixelFormat != tc.wantPix {
				t.Fatalf("encoder format %s, want %s", v4l2.FourccString(e.cfg.PixelFormat), v4l2.FourccString(tc.wantPix))
			}
			if tc.wantPix != v4l2.PixFmtYUV420 {
				return
			}
			got := e.last()
			if !bytes.Equal(got[:tw*th], src.Data[:tw*th]) {
				t.Fatal("luma differs after conversion")
			}
			if !bytes.Equal(got[tw*th:], src.Data[tw*th:]) {
				t.Fatal("chroma differs after conversion")
			}
			if ms, err := testsrc.Decode(got, tw, tw); err != nil || ms != uint64(src.Time.UnixMilli()) {
				t.Fatalf("stamp after conversion %d %v", ms, err)
			}
		})
	}
	t.Run("bad frames are dropped, not fatal", func(t *testing.T) {
		cam := newCam()
		h := newHarness(t, nil)
		h.opens <- cam
		h.run()
		cam.frames <- RawFrame{Data: []byte{1, 2}, Format: v4l2.PixFmtNV12, Width: tw, Height: th}
		cam.frames <- RawFrame{Data: []byte{1, 2}, Format: v4l2.PixFmtMJPEG, Width: tw, Height: th}
		cam.frames <- src
		h.video.next(t)
		if st := h.p.Status(); st.Dropped != 2 || st.Encoder != EncoderSoftware {
			t.Fatalf("status %+v", st)
		}
	})
}

// toNV12 and toYUYV build other camera formats from I420 (chroma rows
// duplicated for 4:2:2).
func toNV12(i []byte) []byte {
	ys := tw * th
	out := bytes.Clone(i[:ys])
	for k := 0; k < ys/4; k++ {
		out = append(out, i[ys+k], i[ys+ys/4+k])
	}
	return out
}

func toYUYV(i []byte) []byte {
	ys := tw * th
	out := make([]byte, 0, ys*2)
	for r := 0; r < th; r++ {
		for c := 0; c < tw; c += 2 {
			ci := (r/2)*(tw/2) + c/2
			out = append(out, i[r*tw+c], i[ys+ci], i[r*tw+c+1], i[ys+ys/4+ci])
		}
	}
	return out
}

func TestPassthrough(t *testing.T) {
	cam := newCam()
	h := newHarness(t, nil)
	h.opens <- cam
	h.run()
	au := append(append(bytes.Clone(fakeSPS), fakePPS...), fakeIDR...)
	cam.frames <- RawFrame{Data: au, Format: v4l2.PixFmtH264, Width: 1920, Height: 1080, Time: h.start}
	if s := h.video.next(t); !bytes.Equal(s.Data, au) {
		t.Fatalf("passthrough changed the unit: %x", s.Data)
	}
	h.p.RequestKeyframe()
	cam.frames <- RawFrame{Data: fakeP, Format: v4l2.PixFmtH264, Width: 1920, Height: 1080, Time: h.start.Add(33 * time.Millisecond)}
	h.video.next(t)
	if cam.forced.Load() != 1 {
		t.Fatal("camera not asked for a keyframe")
	}
	if st := h.p.Status(); st.Encoder != EncoderPassthrough || st.Width != 1920 || len(h.sw.made) != 0 {
		t.Fatalf("status %+v, %d encoders made", st, len(h.sw.made))
	}
}

func TestAudio(t *testing.T) {
	t.Run("tone through the encoder to the track", func(t *testing.T) {
		h := newHarness(t, nil)
		h.run()
		h.waitState("mic test", 0, func(s Status) bool { return s.Mic == SourceTest })
		var n int
		for deadline := time.Now().Add(5 * time.Second); n < 5 && time.Now().Before(deadline); {
			h.mock.Advance(20 * time.Millisecond)
			select {
			case s := <-h.audio.ch:
				if s.Duration != 20*time.Millisecond || len(s.Data) != 3 || s.Data[2] != 96 {
					t.Fatalf("audio sample %+v", s)
				}
				n++
			case <-time.After(5 * time.Millisecond):
			}
		}
		if n < 5 || h.p.Status().AudioPackets < 5 {
			t.Fatalf("%d audio samples", n)
		}
	})
	t.Run("no encoder turns audio off", func(t *testing.T) {
		h := newHarness(t, func(h *harness, c *Config) {
			c.NewAudioEncoder = func(int) (AudioEncoder, error) { return nil, errors.New("no opus") }
		})
		h.run()
		st := h.waitState("mic off", 0, func(s Status) bool { return s.Mic == SourceOff })
		if st.MicError != "no opus" {
			t.Fatalf("mic error %q", st.MicError)
		}
	})
	t.Run("microphone missing at start-up: no tone, found when plugged in", func(t *testing.T) {
		var mu sync.Mutex
		var plugged AudioSource
		h := newHarness(t, func(h *harness, c *Config) {
			c.TestAudio = false
			c.OpenMic = func() (AudioSource, error) {
				mu.Lock()
				defer mu.Unlock()
				if plugged == nil {
					return nil, fmt.Errorf("no card: %w", ErrNoDevice)
				}
				return plugged, nil
			}
		})
		h.run()
		h.waitState("mic missing", 0, func(s Status) bool { return s.Mic == SourceMissing && s.MicError != "" })
		for i := 0; i < 10; i++ {
			h.mock.Advance(20 * time.Millisecond)
		}
		if n := h.p.Status().AudioPackets; n != 0 {
			t.Fatalf("%d audio packets sent without a microphone", n)
		}
		mu.Lock()
		plugged = &fakeMic{fail: make(chan error, 1)}
		mu.Unlock()
		h.waitState("mic found at the next probe", time.Second, func(s Status) bool { return s.Mic == SourceOK && s.MicError == "" })
	})
	t.Run("microphone lost and reopened", func(t *testing.T) {
		var mu sync.Mutex
		opens := 0
		mic := &fakeMic{fail: make(chan error, 1)}
		h := newHarness(t, func(h *harness, c *Config) {
			c.TestAudio = false
			c.OpenMic = func() (AudioSource, error) {
				mu.Lock()
				defer mu.Unlock()
				opens++
				return mic, nil
			}
		})
		h.run()
		h.waitState("mic ok", 0, func(s Status) bool { return s.Mic == SourceOK })
		mic.fail <- errors.New("snd_pcm read: EBADFD")
		h.waitState("mic reopened", 200*time.Millisecond, func(s Status) bool {
			mu.Lock()
			defer mu.Unlock()
			return s.Mic == SourceOK && opens == 2
		})
	})
}

type fakeMic struct{ fail chan error }

func (m *fakeMic) ReadPCM(ctx context.Context, buf []int16) (time.Time, error) {
	select {
	case err := <-m.fail:
		return time.Time{}, err
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}
func (m *fakeMic) Close() error { return nil }

func TestEncoderChoice(t *testing.T) {
	found := func(path string, err error) func() (string, error) {
		return func() (string, error) { return path, err }
	}
	for _, tc := range []struct {
		name     string
		choice   EncoderChoice
		device   string
		find     func() (string, error)
		wantKind EncoderKind
		wantDev  string
		wantErr  bool
		fallback bool
	}{
		{"auto finds hardware", EncoderAuto, "", found("/dev/video11", nil), EncoderHardware, "/dev/video11", false, true},
		{"auto without hardware", EncoderAuto, "", found("", errors.New("none")), EncoderSoftware, "", false, false},
		{"configured device", EncoderAuto, "/dev/video31", found("", errors.New("not called")), EncoderHardware, "/dev/video31", false, true},
		{"software only", EncoderSoftwareOnly, "", found("/dev/video11", nil), EncoderSoftware, "", false, false},
		{"hardware only, none", EncoderHardwareOnly, "", found("", errors.New("none")), EncoderNone, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(Config{Encoder: tc.choice, EncoderDevice: tc.device, FindHardware: tc.find})
			if err != nil {
				t.Fatal(err)
			}
			if p.factory.Kind != tc.wantKind || p.factory.Device != tc.wantDev || (p.factoryErr != nil) != tc.wantErr ||
				(p.fallback != nil) != tc.fallback {
				t.Fatalf("factory %v %q err %v fallback %v", p.factory.Kind, p.factory.Device, p.factoryErr, p.fallback != nil)
			}
			if tc.wantErr && !errors.Is(p.factoryErr, ErrNoEncoder) {
				t.Fatalf("err %v", p.factoryErr)
			}
			if len(p.Tracks()) != 2 || p.Tracks()[0].Kind().String() != "video" || p.Tracks()[1].Kind().String() != "audio" {
				t.Fatalf("tracks %v", p.Tracks())
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"odd width", Config{Width: 641, Height: 480}},
		{"tiny", Config{Width: 32, Height: 32}},
		{"fps", Config{FPS: 500}},
		{"bitrate below floor", Config{Bitrate: 100_000, MinBitrate: 200_000}},
		{"keyframe interval", Config{KeyframeInterval: time.Millisecond}},
		{"backoff", Config{ReopenMin: time.Second, ReopenMax: time.Millisecond}},
		{"encoder choice", Config{Encoder: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.FindHardware = func() (string, error) { return "", errors.New("none") }
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestStateStrings(t *testing.T) {
	for _, s := range []fmt.Stringer{SourceStarting, SourceOK, SourceReopening, SourceFailed, SourceTest, SourceOff, SourceMissing,
		SourceState(99), EncoderNone, EncoderHardware, EncoderSoftware, EncoderPassthrough, EncoderKind(9),
		EncoderAuto, EncoderHardwareOnly, EncoderSoftwareOnly, EncoderChoice(7)} {
		if s.String() == "" {
			t.Errorf("%#v has no name", s)
		}
	}
}

func FuzzConvert(f *testing.F) {
	f.Add([]byte{0xff, 0xd8, 0xff}, uint32(v4l2.PixFmtMJPEG), 64, 64)
	f.Add(make([]byte, 64*64*2), uint32(v4l2.PixFmtYUYV), 64, 64)
	f.Add(make([]byte, 16*16*3/2), uint32(v4l2.PixFmtNV12), 16, 16)
	f.Fuzz(func(t *testing.T, data []byte, pix uint32, w, h int) {
		if w > 4096 || h > 4096 {
			return
		}
		var c converter
		out, err := c.toI420(RawFrame{Data: data, Format: pix, Width: w, Height: h})
		if err == nil && len(out) != w*h*3/2 {
			t.Fatalf("%dx%d: %d bytes out", w, h, len(out))
		}
	})
}

func TestCameraPluggedAfterStart(t *testing.T) {
	h := newHarness(t, nil) // nothing in h.opens: no camera at start-up
	h.run()
	h.waitState("camera missing", 0, func(s Status) bool { return s.Camera == SourceMissing })
	cam := newCam()
	h.opens <- cam
	h.waitState("camera took over", 100*time.Millisecond, func(s Status) bool { return s.Camera == SourceOK })
	h.video.drain()
	cam.frames <- i420(t, 0, h.mock.Now())
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-h.video.ch:
			if len(s.Data) > 0 && h.p.Status().Camera == SourceOK {
				return
			}
		case <-deadline:
			t.Fatal("no frame from the camera that appeared")
		}
	}
}

// TestPreview: the display's tap sees each frame on its way to the
// encoder, and the encoder still gets every frame.
func TestPreview(t *testing.T) {
	cam := newCam()
	seen := make(chan RawFrame, 8)
	h := newHarness(t, func(_ *harness, c *Config) {
		c.Preview = func(f RawFrame) { seen <- RawFrame{Format: f.Format, Width: f.Width, Height: f.Height, Time: f.Time} }
	})
	h.opens <- cam
	h.run()
	at := h.start.Add(40 * time.Millisecond)
	cam.frames <- i420(t, 1, at)
	h.video.next(t)
	select {
	case f := <-seen:
		if f.Format != v4l2.PixFmtYUV420 || f.Width != tw || f.Height != th || !f.Time.Equal(at) {
			t.Fatalf("preview got %+v", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Preview not called")
	}
	if st := h.p.Status(); st.Frames != 1 {
		t.Fatalf("status %+v", st)
	}
}
