package media

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"tether/media/h264"
	"tether/media/v4l2"
)

var (
	fakeSPS = []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f}
	fakePPS = []byte{0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80}
	fakeIDR = []byte{0, 0, 0, 1, 0x65, 0x88, 0x84}
	fakeP   = []byte{0, 0, 0, 1, 0x41, 0x9a, 0x02}
)

// fakeEncoder is a synchronous Encoder: every Encode emits one access unit
// through Sink, an IDR (with SPS/PPS unless bareIDR) for the first frame
// and after ForceKeyframe, a P slice otherwise. Fields with func type
// script failures.
type fakeEncoder struct {
	cfg      EncoderConfig
	bareIDR  atomic.Bool
	forced   atomic.Bool
	bitrate  atomic.Int64
	frames   atomic.Int64
	runErr   func() error // Run returns this at once when set
	encErr   func() error
	ran      chan struct{}
	out      []byte
	mu       sync.Mutex // guards lastData
	lastData []byte     // a copy of the last frame
}

func (f *fakeEncoder) last() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.lastData)
}

func (f *fakeEncoder) Run(ctx context.Context) error {
	close(f.ran)
	if f.runErr != nil {
		return f.runErr()
	}
	<-ctx.Done()
	return nil
}

func (f *fakeEncoder) Encode(ctx context.Context, fr EncoderFrame) error {
	if f.encErr != nil {
		if err := f.encErr(); err != nil {
			return err
		}
	}
	if len(fr.Data) < f.cfg.Width*f.cfg.Height*3/2 && f.cfg.PixelFormat != v4l2.PixFmtYUYV {
		return errors.New("fake: short frame")
	}
	f.mu.Lock()
	f.lastData = append(f.lastData[:0], fr.Data...)
	f.mu.Unlock()
	n := f.frames.Add(1)
	f.out = f.out[:0]
	key := n == 1 || f.forced.Swap(false)
	switch {
	case key && f.bareIDR.Load():
		f.out = append(f.out, fakeIDR...)
	case key:
		f.out = append(append(append(f.out, fakeSPS...), fakePPS...), fakeIDR...)
	default:
		f.out = append(f.out, fakeP...)
	}
	f.cfg.Sink(AccessUnit{Data: f.out, Timestamp: fr.Timestamp, Keyframe: key})
	return nil
}

func (f *fakeEncoder) ForceKeyframe()     { f.forced.Store(true) }
func (f *fakeEncoder) SetBitrate(bps int) { f.bitrate.Store(int64(bps)) }

// fakeFactory builds fakeEncoders and remembers them.
type fakeFactory struct {
	mu     sync.Mutex
	made   []*fakeEncoder
	newErr error
	runErr func() error
	encErr func() error
}

func (ff *fakeFactory) factory(kind EncoderKind, formats ...uint32) EncoderFactory {
	return EncoderFactory{Kind: kind, Device: "fake-" + kind.String(), Formats: formats,
		New: func(c EncoderConfig) (Encoder, error) {
			ff.mu.Lock()
			defer ff.mu.Unlock()
			if ff.newErr != nil {
				return nil, ff.newErr
			}
			e := &fakeEncoder{cfg: c, runErr: ff.runErr, encErr: ff.encErr, ran: make(chan struct{})}
			ff.made = append(ff.made, e)
			return e, nil
		}}
}

func (ff *fakeFactory) last() *fakeEncoder {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if len(ff.made) == 0 {
		return nil
	}
	return ff.made[len(ff.made)-1]
}

// fakeCamera is a VideoSource fed by the test: each value on frames is
// returned by one ReadFrame; an error on it is returned as the capture
// error.
type fakeCamera struct {
	frames chan any // RawFrame or error
	closed atomic.Bool
	forced atomic.Int64
}

func (c *fakeCamera) ReadFrame(ctx context.Context) (RawFrame, error) {
	select {
	case v := <-c.frames:
		if err, ok := v.(error); ok {
			return RawFrame{}, err
		}
		return v.(RawFrame), nil
	case <-ctx.Done():
		return RawFrame{}, ctx.Err()
	}
}

func (c *fakeCamera) Close() error   { c.closed.Store(true); return nil }
func (c *fakeCamera) ForceKeyframe() { c.forced.Add(1) }

// recorder is a sampleWriter that keeps copies of the samples and signals
// each one.
type recorder struct {
	mu      sync.Mutex
	samples []pmedia.Sample
	ch      chan pmedia.Sample
}

func newRecorder() *recorder { return &recorder{ch: make(chan pmedia.Sample, 1024)} }

func (r *recorder) WriteSample(s pmedia.Sample) error {
	s.Data = bytes.Clone(s.Data)
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
	select {
	case r.ch <- s:
	default:
	}
	return nil
}

// next waits (bounded in real time) for the next sample.
func (r *recorder) next(t *testing.T) pmedia.Sample {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no sample within 5s")
	}
	return pmedia.Sample{}
}

// fakeOpus is an AudioEncoder that emits the first 3 bytes of the PCM.
type fakeOpus struct{ closed atomic.Bool }

func (o *fakeOpus) Encode(pcm []int16, out []byte) (int, error) {
	out[0], out[1], out[2] = 0x78, byte(pcm[0]), byte(len(pcm)/10)
	return 3, nil
}
func (o *fakeOpus) Close() error { o.closed.Store(true); return nil }

func isKey(b []byte) bool { return h264.Scan(b).IDR }

// drain drops the samples received so far.
func (r *recorder) drain() {
	for {
		select {
		case <-r.ch:
		default:
			return
		}
	}
}
