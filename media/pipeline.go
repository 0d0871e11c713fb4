package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"tether/internal/backoff"
	"tether/media/h264"
	"tether/media/swenc"
	"tether/media/v4l2"
	"tether/media/v4l2m2m"
)

// Codec capabilities of the shared tracks. H.264 constrained baseline with
// packetization-mode 1 (RFC 6184 §8.1) is what every WebRTC browser
// decodes; Opus with in-band FEC (RFC 7587 §6.1).
var (
	VideoCodec = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}
	AudioCodec = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
)

const (
	audioChunk   = 20 * time.Millisecond
	audioSamples = 960 // 20 ms at 48 kHz
	// hwFallbackAfter: in auto mode, this many hardware encoder failures
	// in a row without a single frame switch the pipeline to software.
	hwFallbackAfter = 3
)

// Pipeline captures, encodes and writes into two shared tracks. Run owns
// every goroutine; Tracks, RequestKeyframe, SetBitrate and Status are safe
// from any goroutine.
type Pipeline struct {
	cfg   Config
	log   *slog.Logger
	video *webrtc.TrackLocalStaticSample
	audio *webrtc.TrackLocalStaticSample
	// videoW and audioW are where samples go: the tracks, or a test's
	// recorder.
	videoW, audioW sampleWriter

	factory    EncoderFactory // chosen by New; the video goroutine may switch it to fallback
	fallback   *EncoderFactory
	factoryErr error

	running atomic.Bool
	enc     atomic.Pointer[encBox] // the running encoder, for RequestKeyframe and SetBitrate
	keyWant atomic.Bool            // a keyframe is wanted from the next frame
	keyAsk  atomic.Int64           // clock UnixNano of the oldest unanswered request, 0 if none
	bitrate atomic.Int64

	// Sink state, used by whichever goroutine delivers access units (the
	// hardware encoder's Run, or the video goroutine); sinkMu makes the
	// hand-over between encoder generations safe.
	sinkMu  sync.Mutex
	lastTS  time.Duration
	haveTS  bool
	params  []byte // the latest SPS and PPS, Annex B
	scratch []byte // params + IDR when the encoder left them out

	mu sync.Mutex // guards st's states and strings
	st Status

	frames, keyframes, dropped, audioPkts, keyReqs atomic.Uint64
	keyLatency                                     atomic.Int64
	fps                                            atomic.Uint64 // float64 bits
}

type encBox struct{ Encoder }

// sampleWriter is the part of a pion track the pipeline writes to.
type sampleWriter interface {
	WriteSample(pmedia.Sample) error
}

// New validates cfg, chooses the encoder (probing for a mem2mem H.264
// encoder unless told otherwise) and creates the two tracks. Nothing is
// opened until Run.
func New(cfg Config) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, log: cfg.Logger.With("component", "media")}
	var err error
	if p.video, err = webrtc.NewTrackLocalStaticSample(VideoCodec, "video", cfg.StreamID); err != nil {
		return nil, fmt.Errorf("media: video track: %w", err)
	}
	if p.audio, err = webrtc.NewTrackLocalStaticSample(AudioCodec, "audio", cfg.StreamID); err != nil {
		return nil, fmt.Errorf("media: audio track: %w", err)
	}
	p.videoW, p.audioW = p.video, p.audio
	p.bitrate.Store(int64(cfg.Bitrate))
	p.chooseEncoder()
	p.st = Status{Camera: SourceStarting, Mic: SourceStarting, Encoder: EncoderNone, EncoderDevice: p.factory.Device}
	if p.factoryErr != nil {
		p.st.EncoderError = p.factoryErr.Error()
	}
	return p, nil
}

func (p *Pipeline) chooseEncoder() {
	c := &p.cfg
	if len(c.Encoders) > 0 {
		p.factory = c.Encoders[0]
		if len(c.Encoders) > 1 {
			p.fallback = &c.Encoders[1]
		}
		return
	}
	if c.Encoder == EncoderSoftwareOnly {
		p.factory = SoftwareEncoder()
		return
	}
	path := c.EncoderDevice
	if path == "" {
		var err error
		if path, err = c.FindHardware(); err != nil {
			p.log.Info("no hardware H.264 encoder found", "err", err)
		}
	}
	switch {
	case path != "":
		p.factory = HardwareEncoder(path)
		if c.Encoder == EncoderAuto {
			sw := SoftwareEncoder()
			p.fallback = &sw
		}
		p.log.Info("hardware H.264 encoder", "device", path)
	case c.Encoder == EncoderHardwareOnly:
		p.factoryErr = fmt.Errorf("%w: no mem2mem encoder found and software is not allowed", ErrNoEncoder)
	default:
		p.factory = SoftwareEncoder()
		p.log.Info("software H.264 encoder (openh264)")
	}
}

// Tracks returns the video and the audio track, created once and shared by
// every peer connection.
func (p *Pipeline) Tracks() []webrtc.TrackLocal {
	return []webrtc.TrackLocal{p.video, p.audio}
}

// RequestKeyframe asks for an IDR (with SPS and PPS) at the next frame, for
// a new customer or a PLI/FIR. It never blocks; requests before the next
// frame coalesce.
func (p *Pipeline) RequestKeyframe() {
	p.keyReqs.Add(1)
	p.keyAsk.CompareAndSwap(0, p.cfg.Clock.Now().UnixNano())
	p.keyWant.Store(true)
	if b := p.enc.Load(); b != nil {
		b.ForceKeyframe()
	}
}

// SetBitrate changes the video target (clamped to Config's MinBitrate..
// MaxBitrate) from the next frame on; for congestion control.
func (p *Pipeline) SetBitrate(bps int) {
	bps = max(p.cfg.MinBitrate, min(p.cfg.MaxBitrate, bps))
	if p.bitrate.Swap(int64(bps)) == int64(bps) {
		return
	}
	if b := p.enc.Load(); b != nil {
		b.SetBitrate(bps)
	}
}

// Status returns a snapshot of the pipeline's health.
func (p *Pipeline) Status() Status {
	p.mu.Lock()
	s := p.st
	p.mu.Unlock()
	s.Frames = p.frames.Load()
	s.Keyframes = p.keyframes.Load()
	s.Dropped = p.dropped.Load()
	s.AudioPackets = p.audioPkts.Load()
	s.Bitrate = int(p.bitrate.Load())
	s.KeyframeRequests = p.keyReqs.Load()
	s.KeyframeLatency = time.Duration(p.keyLatency.Load())
	s.FPS = math.Float64frombits(p.fps.Load())
	return s
}

// update changes the status under mu and reports a change to OnChange.
func (p *Pipeline) update(fn func(s *Status)) {
	p.mu.Lock()
	before := p.st
	fn(&p.st)
	changed := before.Camera != p.st.Camera || before.Mic != p.st.Mic || before.Encoder != p.st.Encoder ||
		before.EncoderError != p.st.EncoderError
	p.mu.Unlock()
	if changed && p.cfg.OnChange != nil {
		p.cfg.OnChange(p.Status())
	}
}

func (p *Pipeline) setCamera(s SourceState, err error) {
	p.update(func(st *Status) {
		st.Camera, st.CameraError = s, errString(err)
	})
}

func (p *Pipeline) setMic(s SourceState, err error) {
	p.update(func(st *Status) { st.Mic, st.MicError = s, errString(err) })
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Run opens the sources and runs the pipeline until ctx ends. It returns
// nil then; device loss and encoder failures are retried with backoff and
// reported through Status, never returned.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer p.running.Store(false)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.runVideo(ctx) }()
	go func() { defer wg.Done(); p.runAudio(ctx) }()
	go func() { defer wg.Done(); p.runStats(ctx) }()
	wg.Wait()
	return nil
}

// runStats computes FPS once a second of the clock.
func (p *Pipeline) runStats(ctx context.Context) {
	t := p.cfg.Clock.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := p.frames.Load(), p.cfg.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.Chan():
			n := p.frames.Load()
			if d := now.Sub(lastAt); d > 0 {
				p.fps.Store(math.Float64bits(float64(n-last) / d.Seconds()))
			}
			last, lastAt = n, now
		}
	}
}

// encSession is one running encoder, owned by the video goroutine.
type encSession struct {
	enc    Encoder
	w, h   int
	pix    uint32
	cancel context.CancelFunc
	done   chan error // Run's result, cap 1
}

// videoState is the video goroutine's own state.
type videoState struct {
	// epoch is the capture time of the first frame; encoder timestamps
	// count from it (small enough for a 32-bit timeval on armv7).
	epoch    time.Time
	sess     *encSession
	conv     converter
	failures int  // consecutive encoder failures without a frame
	encoded  bool // the current session has encoded a frame
}

// runVideo is the video goroutine: open the camera (or the test pattern
// when asked for), read frames, feed the encoder, reopen on loss.
func (p *Pipeline) runVideo(ctx context.Context) {
	test := p.cfg.TestVideo || p.cfg.OpenCamera == nil
	open := p.cfg.OpenCamera
	if test {
		open = p.cfg.testVideoOpener()
	}
	bo := &backoff.Backoff{Min: p.cfg.ReopenMin, Max: p.cfg.ReopenMax, Jitter: ReopenJitter}
	var vs videoState
	defer p.stopEncoder(&vs)
	var src VideoSource
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	first := true // no camera opened yet: ErrNoDevice means missing
	for ctx.Err() == nil {
		if src == nil {
			s, err := open()
			if err != nil {
				if !p.openFailed(ctx, "camera", first, err, p.Status().Camera, p.setCamera, bo) {
					return
				}
				continue
			}
			first = false
			src = s
			if test {
				p.setCamera(SourceTest, nil)
			} else {
				p.setCamera(SourceOK, nil)
			}
		}
		f, err := src.ReadFrame(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("camera lost; reopening", "err", err)
			src.Close()
			src = nil
			p.setCamera(SourceReopening, err)
			if !waitBackoff(ctx, p.cfg.Clock, bo) {
				return
			}
			continue
		}
		bo.Reset()
		if err := p.handleFrame(ctx, &vs, src, f); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.dropped.Add(1)
			p.encoderFailed(&vs, err)
			if !waitBackoff(ctx, p.cfg.Clock, bo) {
				return
			}
		}
	}
}

func (p *Pipeline) openFailed(ctx context.Context, what string, first bool, err error,
	prev SourceState, set func(SourceState, error), bo *backoff.Backoff) bool {
	return openFailed(ctx, p.log, p.cfg.Clock, p.cfg.DeviceProbe, what, first, err, prev, set, bo)
}

// openFailed reports a failed open and waits before the next attempt; false
// means ctx ended. A device that has never been there since start-up
// (ErrNoDevice before the first successful open) is SourceMissing and is
// looked for every probe; one that went away is SourceReopening and
// one that is there but unusable SourceFailed, both retried with backoff.
// Shared by the capture devices (Pipeline) and the speaker (Player).
func openFailed(ctx context.Context, log *slog.Logger, clk clockwork.Clock, probe time.Duration, what string,
	first bool, err error, prev SourceState, set func(SourceState, error), bo *backoff.Backoff) bool {
	st := SourceFailed
	if errors.Is(err, ErrNoDevice) {
		st = SourceReopening
		if first {
			st = SourceMissing
		}
	}
	if st == SourceMissing {
		if prev != SourceMissing { // once, not every probe
			log.Warn(what+" missing; looked for again every probe", "err", err, "probe", probe)
		}
		set(st, err)
		select {
		case <-ctx.Done():
			return false
		case <-clk.After(probe):
			return true
		}
	}
	log.Warn(what+" open failed", "err", err, "state", st)
	set(st, err)
	return waitBackoff(ctx, clk, bo)
}

// ReopenJitter spreads the reopen delays by ±20 % so that the camera and
// the microphone, lost together (one USB hub), do not retry in lockstep.
const ReopenJitter = 0.2

// waitBackoff sleeps on clk for the next reopen delay; false if ctx ended
// first.
func waitBackoff(ctx context.Context, clk clockwork.Clock, bo *backoff.Backoff) bool {
	t := clk.NewTimer(bo.Next())
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		return false
	}
}

// encoderFailed stops the session, records the error and, in auto mode,
// falls back to software after repeated hardware failures.
func (p *Pipeline) encoderFailed(vs *videoState, err error) {
	p.log.Warn("video encoder failed", "kind", p.factory.Kind, "err", err)
	p.stopEncoder(vs)
	if !vs.encoded {
		vs.failures++
	} else {
		vs.failures = 1
	}
	vs.encoded = false
	if vs.failures >= hwFallbackAfter && p.fallback != nil {
		p.log.Warn("falling back to the next encoder", "from", p.factory.Kind, "to", p.fallback.Kind)
		p.factory, p.fallback = *p.fallback, nil
		vs.failures = 0
	}
	p.update(func(st *Status) {
		st.Encoder, st.EncoderDevice, st.EncoderError = EncoderNone, p.factory.Device, err.Error()
	})
}

// handleFrame passes an H.264 frame through or converts and encodes a raw
// one. An error means the encoder is unusable and must be restarted.
func (p *Pipeline) handleFrame(ctx context.Context, vs *videoState, src VideoSource, f RawFrame) error {
	if vs.epoch.IsZero() {
		vs.epoch = f.Time
	}
	ts := f.Time.Sub(vs.epoch)
	if f.Format == v4l2.PixFmtH264 {
		if vs.sess != nil {
			p.stopEncoder(vs)
		}
		p.update(func(st *Status) {
			st.Encoder, st.EncoderDevice, st.EncoderError = EncoderPassthrough, "", ""
			st.Width, st.Height = f.Width, f.Height
		})
		if p.keyWant.Swap(false) {
			if kf, ok := src.(KeyframeForcer); ok {
				kf.ForceKeyframe()
			}
		}
		p.writeVideo(f.Data, ts, h264.Scan(f.Data).IDR)
		return nil
	}
	if p.factoryErr != nil {
		p.dropped.Add(1)
		return nil // Status carries the error; nothing will change it
	}
	pix := f.Format
	data := f.Data
	if !p.factory.takes(pix) {
		var err error
		if data, err = vs.conv.toI420(f); err != nil {
			p.dropped.Add(1)
			return nil // a bad frame, not a bad encoder
		}
		pix = v4l2.PixFmtYUV420
	} else if n := frameBytes(pix, f.Width, f.Height); n == 0 || len(data) < n {
		p.dropped.Add(1)
		return nil
	}
	if p.cfg.Preview != nil {
		p.cfg.Preview(RawFrame{Data: data, Format: pix, Width: f.Width, Height: f.Height, Time: f.Time})
	}
	if s := vs.sess; s != nil && (s.w != f.Width || s.h != f.Height || s.pix != pix) {
		p.stopEncoder(vs)
	}
	if vs.sess == nil {
		if err := p.startEncoder(ctx, vs, f.Width, f.Height, pix); err != nil {
			return err
		}
	}
	select {
	case err := <-vs.sess.done:
		vs.sess.done <- err // stopEncoder reads it again
		if err == nil {
			err = errors.New("encoder stopped")
		}
		return err
	default:
	}
	if p.keyWant.Swap(false) {
		vs.sess.enc.ForceKeyframe()
	}
	err := vs.sess.enc.Encode(ctx, EncoderFrame{Data: data, Timestamp: ts})
	switch {
	case err == nil:
		vs.encoded = true
		vs.failures = 0
		return nil
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, v4l2m2m.ErrFrameSize) || errors.Is(err, swenc.ErrFrameSize):
		p.dropped.Add(1)
		return nil
	}
	return err
}

func (p *Pipeline) startEncoder(ctx context.Context, vs *videoState, w, h int, pix uint32) error {
	enc, err := p.factory.New(EncoderConfig{
		Width: w, Height: h, PixelFormat: pix, FrameRate: p.cfg.FPS,
		Bitrate:          int(p.bitrate.Load()),
		KeyframeInterval: max(1, int(p.cfg.KeyframeInterval*time.Duration(p.cfg.FPS)/time.Second)),
		Sink:             p.sink, Clock: p.cfg.Clock, Logger: p.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("media: new %s encoder: %w", p.factory.Kind, err)
	}
	ectx, cancel := context.WithCancel(ctx)
	s := &encSession{enc: enc, w: w, h: h, pix: pix, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- enc.Run(ectx) }()
	vs.sess = s
	// The first frame of a new encoder is an IDR anyway; a bitrate set
	// since New must reach it.
	enc.SetBitrate(int(p.bitrate.Load()))
	p.enc.Store(&encBox{enc})
	p.update(func(st *Status) {
		st.Encoder, st.EncoderDevice, st.EncoderError = p.factory.Kind, p.factory.Device, ""
		st.Width, st.Height = w, h
	})
	p.log.Info("video encoder started", "kind", p.factory.Kind, "size", fmt.Sprintf("%dx%d", w, h),
		"format", v4l2.FourccString(pix))
	return nil
}

// stopEncoder cancels the session's Run and waits for it.
func (p *Pipeline) stopEncoder(vs *videoState) {
	s := vs.sess
	if s == nil {
		return
	}
	p.enc.Store(nil)
	s.cancel()
	if err := <-s.done; err != nil && !errors.Is(err, context.Canceled) {
		p.log.Debug("encoder run ended", "err", err)
	}
	vs.sess = nil
}

// sink receives access units from the encoder.
func (p *Pipeline) sink(au AccessUnit) { p.writeVideo(au.Data, au.Timestamp, au.Keyframe) }

// writeVideo writes one access unit to the video track. An IDR without SPS
// and PPS gets the last ones seen prepended, so a new customer can always
// start decoding at it.
func (p *Pipeline) writeVideo(data []byte, ts time.Duration, key bool) {
	p.sinkMu.Lock()
	defer p.sinkMu.Unlock()
	in := h264.Scan(data)
	key = key || in.IDR
	if in.SPS && in.PPS {
		p.params = p.params[:0]
		h264.Units(data, func(nal []byte) bool {
			if t := nal[0] & 0x1f; t == h264.NALSPS || t == h264.NALPPS {
				p.params = append(p.params, 0, 0, 0, 1)
				p.params = append(p.params, nal...)
			}
			return true
		})
	} else if in.IDR && len(p.params) > 0 {
		p.scratch = append(append(p.scratch[:0], p.params...), data...)
		data = p.scratch
	}
	dur := time.Second / time.Duration(p.cfg.FPS)
	if p.haveTS {
		if d := ts - p.lastTS; d > 0 && d < time.Second {
			dur = d
		}
	}
	p.lastTS, p.haveTS = ts, true
	p.frames.Add(1)
	if key {
		p.keyframes.Add(1)
		if asked := p.keyAsk.Swap(0); asked != 0 {
			p.keyLatency.Store(p.cfg.Clock.Now().UnixNano() - asked)
		}
	}
	if err := p.videoW.WriteSample(pmedia.Sample{Data: data, Duration: dur}); err != nil {
		p.log.Debug("video WriteSample", "err", err)
	}
}

// runAudio is the audio goroutine: microphone (or the tone when asked for)
// -> Opus -> track.
func (p *Pipeline) runAudio(ctx context.Context) {
	enc, err := p.cfg.NewAudioEncoder(p.cfg.AudioBitrate)
	if err != nil {
		p.log.Warn("no audio encoder; audio off", "err", err)
		p.setMic(SourceOff, err)
		return
	}
	defer enc.Close()
	test := p.cfg.TestAudio || p.cfg.OpenMic == nil
	open := p.cfg.OpenMic
	if test {
		open = p.cfg.testAudioOpener()
	}
	bo := &backoff.Backoff{Min: p.cfg.ReopenMin, Max: p.cfg.ReopenMax, Jitter: ReopenJitter}
	pcm := make([]int16, audioSamples)
	out := make([]byte, swenc.OpusMaxPacket)
	var src AudioSource
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	first := true
	for ctx.Err() == nil {
		if src == nil {
			s, err := open()
			if err != nil {
				if !p.openFailed(ctx, "microphone", first, err, p.Status().Mic, p.setMic, bo) {
					return
				}
				continue
			}
			first = false
			src = s
			if test {
				p.setMic(SourceTest, nil)
			} else {
				p.setMic(SourceOK, nil)
			}
		}
		if _, err := src.ReadPCM(ctx, pcm); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("microphone lost; reopening", "err", err)
			src.Close()
			src = nil
			p.setMic(SourceReopening, err)
			if !waitBackoff(ctx, p.cfg.Clock, bo) {
				return
			}
			continue
		}
		bo.Reset()
		if p.cfg.Echo != nil && !test {
			var backlog time.Duration
			if b, ok := src.(backlogger); ok {
				backlog = b.Backlog()
			}
			if err := p.cfg.Echo.Capture(pcm, backlog); err != nil {
				p.log.Debug("echo canceller", "err", err)
			}
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			p.log.Warn("opus encode", "err", err)
			continue
		}
		p.audioPkts.Add(1)
		if err := p.audioW.WriteSample(pmedia.Sample{Data: out[:n], Duration: audioChunk}); err != nil {
			p.log.Debug("audio WriteSample", "err", err)
		}
	}
}
