package display

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/backoff"
	"tether/media"
	"tether/media/drm"
)

// Screen is the output Run draws on: *drm.Screen, or a test's in-memory
// one.
type Screen interface {
	Info() drm.Info
	Back() drm.Buffer
	Present() error
	Close() error
}

// capturer is a Screen that can read back what it shows (drm's writeback).
type capturer interface {
	Capture(timeout time.Duration) (drm.Buffer, error)
}

// Decoder turns Annex B access units into pictures valid until the next
// call. Any error means the stream is unusable until the next keyframe.
type Decoder interface {
	Decode(au []byte) (Picture, bool, error)
	Close() error
}

// DecoderKind says which decoder Run uses.
type DecoderKind = media.EncoderKind

// Config describes one display. Zero fields take the defaults noted.
type Config struct {
	// OpenScreen opens the output (required; ScreenOpener(path) for DRM).
	// An error wrapping drm.ErrNoDisplay is a missing display, looked
	// for again every DeviceProbe; others are retried with backoff.
	OpenScreen func() (Screen, error)
	// NewDecoder makes the decoder when the first customer picture
	// arrives (default: the board's V4L2 mem2mem H.264 decoder if one is
	// found, else openh264). It stays open across customers.
	NewDecoder func() (Decoder, DecoderKind, string, error)
	// RequestKeyframe asks the customer's sender for an IDR (the peer
	// sends RTCP PLI for ssrc); called from a reader goroutine, it must
	// not block. At most once per KeyframeInterval (default 500 ms).
	RequestKeyframe  func(ssrc uint32)
	KeyframeInterval time.Duration
	// MaxLate (packets, default 512) and MaxDelay (default 500 ms) bound
	// the RTP reordering window of the samplebuilder.
	MaxLate  uint16
	MaxDelay time.Duration
	// Stale is how long after the last customer picture the status screen
	// comes back (default 3 s: the customer turned the camera off).
	Stale time.Duration
	// DeviceProbe, ReopenMin and ReopenMax as in media.Config (defaults
	// 5 s, 500 ms, 30 s).
	DeviceProbe, ReopenMin, ReopenMax time.Duration
	// OnChange is called from Run's goroutine (it must not block) when the
	// state, the error or the decoder changes.
	OnChange func(Status)
	Clock    clockwork.Clock
	Logger   *slog.Logger
}

func (c *Config) setDefaults() {
	if c.NewDecoder == nil {
		c.NewDecoder = DefaultDecoder
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 500 * time.Millisecond
	}
	if c.MaxLate == 0 {
		c.MaxLate = 512
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = 500 * time.Millisecond
	}
	if c.Stale == 0 {
		c.Stale = 3 * time.Second
	}
	if c.DeviceProbe == 0 {
		c.DeviceProbe = 5 * time.Second
	}
	if c.ReopenMin == 0 {
		c.ReopenMin = 500 * time.Millisecond
	}
	if c.ReopenMax == 0 {
		c.ReopenMax = 30 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ScreenOpener returns a Config.OpenScreen for a DRM card: path, or the
// first card with a connected output when path is "" or "auto".
func ScreenOpener(path string) func() (Screen, error) {
	return func() (Screen, error) {
		p := path
		if p == "" || p == "auto" {
			var err error
			if p, err = drm.Find(); err != nil {
				return nil, err
			}
		}
		s, err := drm.Open(p)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// Status is the display's health for the health tracker, console, setup
// page and metrics: State uses the media layer's type, like the camera.
type Status struct {
	State        media.SourceState
	Error        string
	Device       string
	Width        int
	Height       int
	Decoder      DecoderKind
	DecoderNode  string
	DecoderError string
	// Customer is true while a customer track is set.
	Customer bool
	// Shown pictures, Decoded access units, DecodeErrors, Lost (packet
	// gaps), Dropped (units Run had no time for), KeyframeRequests.
	Shown, Decoded, DecodeErrors, Lost, Dropped, KeyframeRequests uint64
}

// Display shows the customer on a screen. Run owns the screen, the
// decoder and the compositor; the setters may be called from any
// goroutine and never block.
type Display struct {
	cfg Config
	log *slog.Logger

	// Channels into Run (latest wins for customer and status):
	custCh   chan media.RTPReader
	custMu   sync.Mutex
	custNext media.RTPReader
	custSet  bool
	statCh   chan []string
	aus      chan au
	capReq   chan chan captureResult
	running  atomic.Bool
	self     selfBox
	readers  sync.WaitGroup
	lastPLI  atomic.Int64

	stMu sync.Mutex
	st   Status

	shown, decoded, decErrs, lost, dropped, keyReqs atomic.Uint64
}

type captureResult struct {
	buf drm.Buffer
	err error
}

// New validates cfg; nothing opens until Run.
func New(cfg Config) (*Display, error) {
	cfg.setDefaults()
	switch {
	case cfg.OpenScreen == nil:
		return nil, fmt.Errorf("%w: OpenScreen is nil", ErrConfig)
	case cfg.KeyframeInterval < 0 || cfg.Stale < 0 || cfg.ReopenMin <= 0 || cfg.ReopenMax < cfg.ReopenMin:
		return nil, fmt.Errorf("%w: durations", ErrConfig)
	}
	return &Display{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "display"),
		custCh: make(chan media.RTPReader, 1),
		statCh: make(chan []string, 1),
		aus:    make(chan au, 4),
		capReq: make(chan chan captureResult),
		st:     Status{State: media.SourceStarting},
	}, nil
}

// SetCustomer switches the screen to the customer's video track r (nil:
// no customer, the status screen). The screen and decoder stay open.
func (d *Display) SetCustomer(r media.RTPReader) {
	d.custMu.Lock()
	d.custNext, d.custSet = r, true
	d.custMu.Unlock()
	select {
	case d.custCh <- nil: // a kick; Run reads custNext
	default:
	}
}

// SetStatus sets the status screen's text (first line large, the rest
// smaller), e.g. "waiting for a customer", "reconnecting…", "login
// needed". It shows whenever no customer picture is on screen.
func (d *Display) SetStatus(lines ...string) {
	l := append([]string(nil), lines...)
	for {
		select {
		case d.statCh <- l:
			return
		default:
		}
		select {
		case <-d.statCh: // drop the stale text
		default:
		}
	}
}

// SelfFrame takes the counter's own camera picture (media.Config.Preview
// calls it on the capture goroutine): a downscaled copy is kept for the
// corner of the call layout. It never blocks on Run.
func (d *Display) SelfFrame(f media.RawFrame) { d.self.put(f) }

// Capture returns what the screen shows, read back by the display engine
// (DRM writeback). For tests and the setup page.
func (d *Display) Capture(ctx context.Context) (drm.Buffer, error) {
	if !d.running.Load() {
		return drm.Buffer{}, ErrNotRunning
	}
	reply := make(chan captureResult, 1)
	select {
	case d.capReq <- reply:
	case <-ctx.Done():
		return drm.Buffer{}, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.buf, r.err
	case <-ctx.Done():
		return drm.Buffer{}, ctx.Err()
	}
}

// Status returns the current health and counters.
func (d *Display) Status() Status {
	d.stMu.Lock()
	s := d.st
	d.stMu.Unlock()
	s.Shown, s.Decoded, s.DecodeErrors = d.shown.Load(), d.decoded.Load(), d.decErrs.Load()
	s.Lost, s.Dropped, s.KeyframeRequests = d.lost.Load(), d.dropped.Load(), d.keyReqs.Load()
	return s
}

func (d *Display) update(fn func(*Status)) {
	d.stMu.Lock()
	old := d.st
	fn(&d.st)
	s := d.st
	d.stMu.Unlock()
	if s != old && d.cfg.OnChange != nil {
		d.cfg.OnChange(d.Status())
	}
}

// run is the state of one Run, owned by its goroutine.
type run struct {
	d       *Display
	scr     Screen
	info    drm.Info
	comp    Compositor
	dec     Decoder
	decErr  error
	gen     uint64
	stop    chan struct{} // closes the current reader
	status  []string
	picture bool      // a customer picture is on screen
	lastPic time.Time // when it was shown
	flipErr int       // page flips failed in a row
	cust    Picture   // the last decoded picture (decoder memory)
	self    Picture   // copy of the own picture for this frame
	selfBuf []byte
}

// Run opens the screen, shows the status or the customer until ctx ends,
// and reopens the screen when it vanishes. It returns nil when ctx ends.
func (d *Display) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: already running", ErrConfig)
	}
	defer d.running.Store(false)
	r := &run{d: d, status: []string{"starting"}}
	defer r.close()
	bo := &backoff.Backoff{Min: d.cfg.ReopenMin, Max: d.cfg.ReopenMax, Jitter: media.ReopenJitter}
	reopen := d.cfg.Clock.NewTimer(0)
	defer reopen.Stop()
	tick := d.cfg.Clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reopen.Chan():
			if err := r.open(); err != nil {
				wait := bo.Next()
				if errors.Is(err, drm.ErrNoDisplay) {
					wait = d.cfg.DeviceProbe
				}
				reopen.Reset(wait)
			} else {
				bo.Reset()
			}
		case <-d.custCh:
			d.custMu.Lock()
			next, set := d.custNext, d.custSet
			d.custSet = false
			d.custMu.Unlock()
			if set {
				r.switchCustomer(next)
			}
		case l := <-d.statCh:
			r.status = l
			if !r.picture {
				r.drawStatus()
			}
		case a := <-d.aus:
			if a.gen == r.gen {
				r.decode(a)
			}
		case reply := <-d.capReq:
			reply <- r.capture()
		case <-tick.Chan():
			switch {
			case r.picture && d.cfg.Clock.Since(r.lastPic) >= d.cfg.Stale:
				r.picture = false
				r.drawStatus()
			case !r.picture && r.flipErr > 0:
				// The status's flip timed out (a late vblank on a busy
				// board): present it again, or the screen could keep the
				// last customer's picture until the next status change.
				r.drawStatus()
			}
		}
		if r.scr == nil && r.info.Path == "lost" {
			r.info.Path = ""
			reopen.Reset(bo.Next())
		}
	}
}

func (r *run) open() error {
	d := r.d
	scr, err := d.cfg.OpenScreen()
	if err != nil {
		st := media.SourceReopening
		if errors.Is(err, drm.ErrNoDisplay) {
			st = media.SourceMissing
		}
		d.update(func(s *Status) { s.State, s.Error = st, err.Error() })
		d.log.Debug("screen not opened", "err", err)
		return err
	}
	r.scr, r.info = scr, scr.Info()
	d.log.Info("screen", "device", r.info.Path, "size", fmt.Sprintf("%dx%d", r.info.Width, r.info.Height),
		"refresh", r.info.Refresh, "writeback", r.info.Writeback)
	d.update(func(s *Status) {
		s.State, s.Error, s.Device, s.Width, s.Height = media.SourceOK, "", r.info.Path, r.info.Width, r.info.Height
	})
	r.picture = false
	r.drawStatus()
	return nil
}

// lose closes a screen that failed; Run reopens it with backoff.
func (r *run) lose(err error) {
	r.d.log.Warn("screen lost", "err", err)
	_ = r.scr.Close()
	r.scr = nil
	r.info = drm.Info{Path: "lost"}
	r.d.update(func(s *Status) { s.State, s.Error = media.SourceReopening, err.Error() })
}

func (r *run) present() {
	err := r.scr.Present()
	switch {
	case err == nil:
		r.flipErr = 0
	case errors.Is(err, drm.ErrTimeout):
		// One late flip is a hiccup; many in a row a stuck driver.
		if r.flipErr++; r.flipErr >= 5 {
			r.lose(err)
		}
	default:
		r.lose(err)
	}
}

func (r *run) drawStatus() {
	if r.scr == nil {
		return
	}
	b := r.scr.Back()
	DrawStatus(b, r.status...)
	r.present()
	if r.scr != nil { // both buffers carry the status: a late flip shows no stale call
		b = r.scr.Back()
		DrawStatus(b, r.status...)
		r.present()
	}
}

func (r *run) switchCustomer(next media.RTPReader) {
	d := r.d
	if r.stop != nil {
		close(r.stop)
		r.stop = nil
	}
	r.gen++
	// Drop units of the previous customer already queued.
	for len(d.aus) > 0 {
		<-d.aus
	}
	if r.picture {
		r.picture = false
		r.drawStatus()
	}
	if next != nil {
		r.stop = make(chan struct{})
		d.readers.Add(1)
		go d.read(next, r.gen, r.stop)
	}
	d.update(func(s *Status) { s.Customer = next != nil })
}

func (r *run) decode(a au) {
	d := r.d
	if r.dec == nil {
		if r.decErr != nil {
			return // a decoder that failed to open is not retried per unit
		}
		dec, kind, node, err := d.cfg.NewDecoder()
		if err != nil {
			r.decErr = err
			d.log.Error("no video decoder", "err", err)
			d.update(func(s *Status) { s.State, s.DecoderError = media.SourceFailed, err.Error() })
			return
		}
		r.dec = dec
		d.log.Info("video decoder", "kind", kind, "node", node)
		d.update(func(s *Status) { s.Decoder, s.DecoderNode = kind, node })
	}
	pic, ok, err := r.dec.Decode(a.data)
	if err != nil {
		d.decErrs.Add(1)
		d.requestKeyframe(a.ssrc)
		return
	}
	if !ok {
		return
	}
	d.decoded.Add(1)
	if r.scr == nil {
		return
	}
	r.cust = pic
	d.self.mu.Lock()
	if d.self.have {
		r.self = d.self.pic // drawn under the lock below: no copy
	}
	b := r.scr.Back()
	r.comp.Call(b, &r.cust, &r.self)
	d.self.mu.Unlock()
	r.self = Picture{}
	r.present()
	if r.scr != nil {
		r.picture, r.lastPic = true, d.cfg.Clock.Now()
		d.shown.Add(1)
	}
}

func (r *run) capture() captureResult {
	if r.scr == nil {
		return captureResult{err: ErrNoScreen}
	}
	c, ok := r.scr.(capturer)
	if !ok {
		return captureResult{err: drm.ErrNoWriteback}
	}
	b, err := c.Capture(time.Second)
	return captureResult{buf: b, err: err}
}

// close ends the reader, the decoder and the screen. A reader blocked in
// ReadRTP ends when its track does (the peer closes it); Run waits for it
// a bounded time only, so a stuck track cannot hold up shutdown.
func (r *run) close() {
	if r.stop != nil {
		close(r.stop)
	}
	done := make(chan struct{})
	go func() { r.d.readers.Wait(); close(done) }()
	t := r.d.cfg.Clock.NewTimer(time.Second)
	select {
	case <-done:
	case <-t.Chan():
		r.d.log.Warn("a customer track reader is still blocked in ReadRTP; it ends with its track")
	}
	t.Stop()
	if r.dec != nil {
		_ = r.dec.Close()
	}
	if r.scr != nil {
		_ = r.scr.Close()
	}
}
