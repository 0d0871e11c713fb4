package v4l2m2m

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tether/media/v4l2"
)

// Frame is one raw picture for Encode.
type Frame struct {
	// Data is the packed frame (Width x Height in PixelFormat, no row
	// padding). With MMAP input it is copied into a driver buffer before
	// Encode returns, so the caller may reuse it at once.
	Data []byte
	// DMABuf is the dmabuf fd holding the frame when Config.InputMemory is
	// v4l2.MemoryDMABuf; it stays the caller's and must stay valid until
	// Release runs. Size is its payload (default the driver's sizeimage).
	DMABuf int
	Size   int
	// Timestamp (capture time, microsecond resolution) travels through the
	// driver to the AccessUnit (V4L2_BUF_FLAG_TIMESTAMP_COPY).
	Timestamp time.Duration
	// Release, if set, runs on Run's goroutine once the encoder no longer
	// needs the frame's memory: after the copy for MMAP, after the driver
	// returns the buffer for DMABUF (or when the frame is dropped).
	Release func()
}

// AccessUnit is one coded picture from the CAPTURE queue.
type AccessUnit struct {
	// Data is valid only during the Sink call (it is driver memory).
	Data      []byte
	Timestamp time.Duration
	// Keyframe: the driver flagged V4L2_BUF_FLAG_KEYFRAME or, for H.264,
	// the unit holds an IDR slice.
	Keyframe bool
	// Sequence is the driver's CAPTURE sequence number.
	Sequence uint32
}

// State is the encoder's lifecycle state.
type State int32

// Encoder states.
const (
	StateIdle      State = iota // no Run active
	StateOpening                // opening and configuring the device
	StateStreaming              // both queues streaming
	StateDraining               // ENCODER_CMD STOP sent, waiting for LAST
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateOpening:
		return "opening"
	case StateStreaming:
		return "streaming"
	case StateDraining:
		return "draining"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Stats are cumulative counters over every Run.
type Stats struct {
	Frames      uint64 // frames queued to the device
	Units       uint64 // access units delivered to Sink
	Keyframes   uint64 // of which keyframes
	Bytes       uint64 // coded bytes delivered
	ForcedKeys  uint64 // FORCE_KEY_FRAME controls applied
	BitrateSets uint64 // bitrate changes applied while streaming
	Errors      uint64 // buffers the driver flagged V4L2_BUF_FLAG_ERROR
}

// Encoder is a stateful V4L2 mem2mem encoder. Run owns the device and the
// buffer state machine; Encode, ForceKeyframe, SetBitrate, State and Stats
// may be called from any goroutine.
type Encoder struct {
	cfg Config
	log *slog.Logger

	// Channels into Run's goroutine:
	in     chan Frame    // Encode -> Run, unbuffered: taken only when an OUTPUT buffer is free
	result chan error    // Run -> Encode, cap 1: outcome of the frame just taken
	kick   chan struct{} // cap 1: a control change (keyframe, bitrate) is pending

	encMu    sync.Mutex    // serialises Encode so result pairs with its frame
	endMu    sync.Mutex    // guards ended
	ended    chan struct{} // closed when the current (or next) Run ends, then replaced
	running  atomic.Bool   // a Run is active
	state    atomic.Int32
	forceKey atomic.Bool  // ForceKeyframe pending
	bitrate  atomic.Int64 // wanted bitrate; Run applies it when it differs

	frames, units, keyframes, bytes, forced, bitrateSets, errs atomic.Uint64
}

// New validates cfg and returns an idle Encoder; nothing is opened until Run.
func New(cfg Config) (*Encoder, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Encoder{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "v4l2m2m"),
		in:     make(chan Frame),
		result: make(chan error, 1),
		kick:   make(chan struct{}, 1),
		ended:  make(chan struct{}),
	}
	e.bitrate.Store(int64(cfg.Bitrate))
	return e, nil
}

// Encode hands one frame to the running encoder. It blocks until Run has
// taken it into a free OUTPUT buffer (back-pressure: a live source should
// pass a ctx bounded by its frame interval and drop the frame on timeout) or
// ctx ends. An error for the frame (short data, driver refusal) does not stop
// the encoder; ErrDeviceGone means Run is ending. Called while no Run is
// active, Encode waits for the next Run; if the Run it waits on ends first it
// returns ErrNotRunning. Release runs in every case once the frame is done
// with or refused.
func (e *Encoder) Encode(ctx context.Context, f Frame) error {
	e.encMu.Lock()
	defer e.encMu.Unlock()
	e.endMu.Lock()
	ended := e.ended
	e.endMu.Unlock()
	select {
	case e.in <- f:
	case <-ctx.Done():
		releaseFrame(&f)
		return ctx.Err()
	case <-ended:
		releaseFrame(&f)
		return ErrNotRunning
	}
	// Run answers every frame it takes before doing anything else.
	return <-e.result
}

// ForceKeyframe asks for the next frame to be coded as an IDR picture (with
// SPS/PPS when the driver repeats headers), e.g. on RTCP PLI or FIR. It
// never blocks.
func (e *Encoder) ForceKeyframe() {
	e.forceKey.Store(true)
	e.poke()
}

// SetBitrate changes the target bitrate while streaming (congestion
// control); it never blocks and the latest value wins.
func (e *Encoder) SetBitrate(bps int) {
	if bps < 10_000 {
		bps = 10_000
	}
	e.bitrate.Store(int64(bps))
	e.poke()
}

func (e *Encoder) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// State returns the lifecycle state.
func (e *Encoder) State() State { return State(e.state.Load()) }

// Stats returns the counters.
func (e *Encoder) Stats() Stats {
	return Stats{
		Frames: e.frames.Load(), Units: e.units.Load(), Keyframes: e.keyframes.Load(),
		Bytes: e.bytes.Load(), ForcedKeys: e.forced.Load(), BitrateSets: e.bitrateSets.Load(),
		Errors: e.errs.Load(),
	}
}

// Run opens and configures the device, encodes until ctx ends, then drains
// (V4L2_ENC_CMD_STOP until V4L2_BUF_FLAG_LAST), stops streaming, unmaps and
// closes. It returns nil after a clean stop, an error wrapping ErrDeviceGone
// when the device vanished (call Run again to reopen), ErrStalled,
// ErrDrainTimeout, or a setup error. Every wait inside is bounded.
func (e *Encoder) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	defer func() {
		e.state.Store(int32(StateIdle))
		e.endMu.Lock()
		close(e.ended)
		e.ended = make(chan struct{})
		e.endMu.Unlock()
	}()
	e.state.Store(int32(StateOpening))

	dev, err := e.cfg.Open()
	if err != nil {
		return wrap("open", err)
	}
	s := &session{e: e, cfg: &e.cfg, dev: dev, log: e.log}
	defer s.teardown()
	if err := s.setup(); err != nil {
		return err
	}
	e.state.Store(int32(StateStreaming))
	return s.loop(ctx)
}

// slot is one buffer of either queue. Owned by Run's goroutine.
type slot struct {
	mem     []byte
	planes  [1]v4l2.Plane
	queued  bool
	fd      int    // DMABUF fd last queued in this slot
	release func() // DMABUF frame's Release, run when dequeued
}

// session is the state of one Run. All fields are owned by Run's goroutine
// except the poller's channels.
type session struct {
	e   *Encoder
	cfg *Config
	dev v4l2.Device
	log *slog.Logger

	mplane           bool
	outType, capType v4l2.BufType
	lay              layout
	capSize          int
	out, capt        []slot
	free             []int // free OUTPUT slots (stack)
	queuedOut        int
	streaming        bool
	lastSeen         bool // CAPTURE delivered V4L2_BUF_FLAG_LAST or DQBUF said EPIPE

	bitrate   int64 // applied bitrate
	noForce   bool  // FORCE_KEY_FRAME unsupported: stop trying
	noBitrate bool  // BITRATE unsupported while streaming
	progress  time.Time

	dq       v4l2.Buffer
	dqPlanes [1]v4l2.Plane
	qb       v4l2.Buffer
	ctrl     [1]v4l2.ExtControl
	ctrls    v4l2.ExtControls

	// Poller goroutine: waits on the device and reports readiness.
	ready  chan int16
	ack    chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	polled bool
}

// setup follows the kernel's "Memory-to-Memory Stateful Video Encoder
// Interface" (Documentation/userspace-api/media/v4l/dev-encoder.rst): its
// "Querying Capabilities", then "Initialization" steps 1, 3, 4, 7 and 8
// (2, 5 and 6 are optional and not needed: the raw format is known, the
// coded frame interval equals the raw one, nothing is cropped), with the
// codec controls set before the buffers exist. Each step is a method named
// after it.
func (s *session) setup() error {
	for _, step := range []func() error{
		s.queryCapabilities, // Querying Capabilities 1 (and QUERYCAP)
		s.setCodedFormat,    // Initialization 1
		s.setRawFormat,      // Initialization 3
		s.setFrameInterval,  // Initialization 4
		s.setControls,       // Encoding Parameter Changes, before streaming
		s.allocateBuffers,   // Initialization 7
		s.startStreaming,    // Initialization 8, then Encoding
	} {
		if err := step(); err != nil {
			return err
		}
	}
	s.progress = s.cfg.Clock.Now()
	return nil
}

// queryCapabilities picks the single- or multi-planar API from QUERYCAP and
// checks that CAPTURE offers the coded format ("Querying Capabilities" 1:
// VIDIOC_ENUM_FMT on CAPTURE).
func (s *session) queryCapabilities() error {
	c, caps, err := queues(s.dev, ErrNotEncoder, &s.mplane, &s.outType, &s.capType)
	if err != nil {
		return err
	}
	if caps&v4l2.CapStreaming == 0 {
		return fmt.Errorf("%w: %s has no streaming I/O", ErrNotEncoder, c.DriverName())
	}
	ok, err := hasFormat(s.dev, s.capType, s.cfg.CodedFormat)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s CAPTURE has no %s", ErrNotEncoder, c.DriverName(), v4l2.FourccString(s.cfg.CodedFormat))
	}
	s.log.Info("encoder device", "driver", c.DriverName(), "card", c.CardName(), "mplane", s.mplane,
		"coded", v4l2.FourccString(s.cfg.CodedFormat))
	return nil
}

// setCodedFormat is Initialization step 1: the coded format on CAPTURE
// (VIDIOC_S_FMT), which must be kept as asked.
func (s *session) setCodedFormat() error {
	f := v4l2.Format{Type: s.capType}
	w, h := uint32(s.cfg.Width), uint32(s.cfg.Height)
	if s.mplane {
		p := f.PixMP()
		p.Width, p.Height, p.PixelFormat, p.NumPlanes = w, h, s.cfg.CodedFormat, 1
	} else {
		p := f.Pix()
		p.Width, p.Height, p.PixelFormat = w, h, s.cfg.CodedFormat
	}
	if err := s.dev.SetFormat(&f); err != nil {
		return wrap("VIDIOC_S_FMT CAPTURE", err)
	}
	if _, _, pix, _, _ := fmtInfo(&f); pix != s.cfg.CodedFormat {
		return fmt.Errorf("%w: CAPTURE got %s for %s", ErrFormat, v4l2.FourccString(pix), v4l2.FourccString(s.cfg.CodedFormat))
	}
	return nil
}

// setRawFormat is Initialization step 3: the raw format and size on OUTPUT
// (VIDIOC_S_FMT). The driver may adjust the size; we need it exact, with
// one memory plane, and take the plane layout it returns.
func (s *session) setRawFormat() error {
	f := v4l2.Format{Type: s.outType}
	w, h := uint32(s.cfg.Width), uint32(s.cfg.Height)
	if s.mplane {
		p := f.PixMP()
		p.Width, p.Height, p.PixelFormat, p.NumPlanes, p.Field = w, h, s.cfg.PixelFormat, 1, v4l2.FieldNone
	} else {
		p := f.Pix()
		p.Width, p.Height, p.PixelFormat, p.Field = w, h, s.cfg.PixelFormat, v4l2.FieldNone
	}
	if err := s.dev.SetFormat(&f); err != nil {
		return wrap("VIDIOC_S_FMT OUTPUT", err)
	}
	gw, gh, pix, bpl, size := fmtInfo(&f)
	if pix != s.cfg.PixelFormat || gw != w || gh != h {
		return fmt.Errorf("%w: OUTPUT got %s %dx%d for %s %dx%d", ErrFormat,
			v4l2.FourccString(pix), gw, gh, v4l2.FourccString(s.cfg.PixelFormat), w, h)
	}
	if s.mplane && f.PixMP().NumPlanes != 1 {
		return fmt.Errorf("%w: OUTPUT wants %d memory planes", ErrFormat, f.PixMP().NumPlanes)
	}
	var err error
	s.lay, err = newLayout(pix, int(w), int(h), int(bpl), int(size))
	return err
}

// setFrameInterval is Initialization step 4: the frame interval on OUTPUT
// (VIDIOC_S_PARM), which also sets the coded one. Only a hint to the
// driver, so a refusal is logged, unless the device is gone.
func (s *session) setFrameInterval() error {
	var parm v4l2.StreamParm
	parm.Type = s.outType
	parm.Output().TimePerFrame = v4l2.Fract{Numerator: 1, Denominator: uint32(s.cfg.FrameRate)}
	if err := s.dev.SetParm(&parm); err != nil {
		if gone(err) {
			return wrap("VIDIOC_S_PARM", err)
		}
		s.log.Warn("frame interval not set", "err", err)
	}
	return nil
}

// setControls sets the codec controls (VIDIOC_S_EXT_CTRLS) before
// streaming, where every driver accepts them ("Encoding Parameter
// Changes": some refuse with EBUSY while streaming). Unsupported ones are
// logged and skipped.
func (s *session) setControls() error {
	repeat := int64(1)
	if s.cfg.NoRepeatSequenceHeader {
		repeat = 0
	}
	mode := int64(v4l2.BitrateModeCBR)
	if s.cfg.BitrateMode == VBR {
		mode = v4l2.BitrateModeVBR
	}
	s.bitrate = s.e.bitrate.Load()
	h264 := s.cfg.CodedFormat == v4l2.PixFmtH264
	ctrls := []struct {
		id  uint32
		val int64
		on  bool
	}{
		{v4l2.CIDMPEGVideoH264Profile, int64(s.cfg.Profile), h264},
		{v4l2.CIDMPEGVideoH264Level, int64(s.cfg.Level), h264},
		{v4l2.CIDMPEGVideoBitrateMode, mode, true},
		{v4l2.CIDMPEGVideoBitrate, s.bitrate, true},
		{v4l2.CIDMPEGVideoH264IPeriod, int64(s.cfg.KeyframeInterval), h264},
		{v4l2.CIDMPEGVideoGOPSize, int64(s.cfg.KeyframeInterval), !h264},
		{v4l2.CIDMPEGVideoRepeatSeqHeader, repeat, h264},
		{v4l2.CIDMPEGVideoH264MinQP, int64(s.cfg.MinQP), s.cfg.MinQP > 0},
		{v4l2.CIDMPEGVideoH264MaxQP, int64(s.cfg.MaxQP), s.cfg.MaxQP > 0},
	}
	for _, c := range ctrls {
		if !c.on {
			continue
		}
		if err := s.setControl(c.id, c.val); err != nil {
			if gone(err) {
				return wrap("VIDIOC_S_EXT_CTRLS "+ctrlName(c.id), err)
			}
			s.log.Warn("control not supported, skipped", "control", ctrlName(c.id), "value", c.val, "err", err)
		}
	}
	return nil
}

// allocateBuffers is Initialization step 7: VIDIOC_REQBUFS on both queues,
// CAPTURE buffers sized by the CAPTURE format's sizeimage, read back now
// because drivers size it from the OUTPUT format set in step 3.
// It also subscribes to V4L2_EVENT_EOS for the Drain sequence.
func (s *session) allocateBuffers() error {
	f := v4l2.Format{Type: s.capType}
	if err := s.dev.GetFormat(&f); err != nil {
		return wrap("VIDIOC_G_FMT CAPTURE", err)
	}
	_, _, _, _, capSize := fmtInfo(&f)
	s.capSize = int(capSize)
	var err error
	if s.out, err = s.reqBufs(s.outType, s.cfg.InputMemory, s.cfg.OutputBuffers); err != nil {
		return err
	}
	if s.capt, err = s.reqBufs(s.capType, v4l2.MemoryMMAP, s.cfg.CaptureBuffers); err != nil {
		return err
	}
	s.free = make([]int, 0, len(s.out))
	for i := len(s.out) - 1; i >= 0; i-- {
		s.free = append(s.free, i)
	}
	sub := v4l2.EventSubscription{Type: v4l2.EventEOS}
	if err := s.dev.SubscribeEvent(&sub); err != nil && gone(err) {
		return wrap("VIDIOC_SUBSCRIBE_EVENT", err)
	}
	return nil
}

// startStreaming is Initialization step 8: every CAPTURE buffer queued,
// then VIDIOC_STREAMON on CAPTURE and OUTPUT; encoding starts when both
// stream ("Encoding").
func (s *session) startStreaming() error {
	for i := range s.capt {
		if err := s.queueCapture(i); err != nil {
			return err
		}
	}
	if err := s.dev.StreamOn(s.capType); err != nil {
		return wrap("VIDIOC_STREAMON CAPTURE", err)
	}
	s.streaming = true
	if err := s.dev.StreamOn(s.outType); err != nil {
		return wrap("VIDIOC_STREAMON OUTPUT", err)
	}
	return nil
}

func fmtInfo(f *v4l2.Format) (w, h, pix, bpl, size uint32) {
	if f.Type.MPlane() {
		p := f.PixMP()
		return p.Width, p.Height, p.PixelFormat, p.PlaneFmt[0].BytesPerLine, p.PlaneFmt[0].SizeImage
	}
	p := f.Pix()
	return p.Width, p.Height, p.PixelFormat, p.BytesPerLine, p.SizeImage
}

// hasFormat enumerates the formats of queue t (VIDIOC_ENUM_FMT until EINVAL).
func hasFormat(dev v4l2.Device, t v4l2.BufType, pix uint32) (bool, error) {
	for i := uint32(0); i < 64; i++ {
		d := v4l2.FmtDesc{Index: i, Type: t}
		if err := dev.EnumFmt(&d); err != nil {
			if gone(err) {
				return false, wrap("VIDIOC_ENUM_FMT", err)
			}
			return false, nil
		}
		if d.PixelFormat == pix {
			return true, nil
		}
	}
	return false, nil
}

func (s *session) reqBufs(t v4l2.BufType, mem v4l2.Memory, n int) ([]slot, error) {
	if mem == v4l2.MemoryMMAP {
		// Keeps the slots even on error so teardown unmaps what was mapped.
		return mmapBufs(s.dev, t, n)
	}
	r := v4l2.RequestBuffers{Count: uint32(n), Type: t, Memory: mem}
	if err := s.dev.ReqBufs(&r); err != nil {
		return nil, wrap("VIDIOC_REQBUFS "+t.String()+" "+mem.String(), err)
	}
	if r.Count == 0 {
		return nil, fmt.Errorf("v4l2m2m: VIDIOC_REQBUFS %s: driver granted no buffers", t)
	}
	slots := make([]slot, r.Count)
	for i := range slots {
		slots[i].fd = -1
	}
	return slots, nil
}

// setControl sets one control with VIDIOC_S_EXT_CTRLS, so a refusal names
// exactly that control.
func (s *session) setControl(id uint32, v int64) error {
	s.ctrl[0] = v4l2.ExtControl{ID: id}
	s.ctrl[0].SetValue(int32(v))
	s.ctrls = v4l2.ExtControls{Which: v4l2.CtrlWhichCurVal}
	return s.dev.SetControls(&s.ctrls, s.ctrl[:])
}

func (s *session) queueCapture(i int) error {
	sl := &s.capt[i]
	s.qb = v4l2.Buffer{Index: uint32(i), Type: s.capType, Memory: v4l2.MemoryMMAP}
	sl.planes[0] = v4l2.Plane{Length: uint32(len(sl.mem))}
	s.qb.Length = uint32(len(sl.mem))
	if err := s.dev.QBuf(&s.qb, sl.planes[:]); err != nil {
		return wrap("VIDIOC_QBUF CAPTURE", err)
	}
	sl.queued = true
	return nil
}

// startPoller runs the goroutine that waits on the device. It sends the
// ready set on s.ready and then waits for s.ack, so Run services the device
// before the next poll (the kernel reports readiness until we dequeue).
func (s *session) startPoller() {
	s.ready = make(chan int16, 1)
	s.ack = make(chan struct{}, 1)
	s.stop = make(chan struct{})
	s.polled = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			rev, err := s.dev.Poll(v4l2.PollIn|v4l2.PollOut|v4l2.PollPri, s.cfg.PollTimeout)
			if err != nil {
				rev = v4l2.PollErr
			}
			if rev == 0 {
				select {
				case <-s.stop:
					return
				default:
					continue
				}
			}
			select {
			case s.ready <- rev:
			case <-s.stop:
				return
			}
			select {
			case <-s.ack:
			case <-s.stop:
				return
			}
		}
	}()
}

func (s *session) stopPoller() {
	if s.polled {
		close(s.stop)
		s.wg.Wait()
		s.polled = false
	}
}

// loop is the encode loop: the single owner of the device while streaming.
func (s *session) loop(ctx context.Context) error {
	s.startPoller()
	watchdog := s.cfg.Clock.NewTicker(s.cfg.StallTimeout / 2)
	defer watchdog.Stop()
	errStreak := 0
	for {
		var in chan Frame
		if len(s.free) > 0 {
			in = s.e.in
		}
		select {
		case <-ctx.Done():
			return s.drain()
		case rev := <-s.ready:
			moved, err := s.service(rev)
			s.ack <- struct{}{}
			if err != nil {
				return err
			}
			// POLLERR without any buffer moving, again and again: the
			// queue is in error (vb2 q->error) or the device is gone.
			if rev&v4l2.PollErr != 0 && !moved {
				if errStreak++; errStreak >= 20 {
					return fmt.Errorf("v4l2m2m: poll: %w (POLLERR)", ErrDeviceGone)
				}
			} else {
				errStreak = 0
			}
		case f := <-in:
			if err := s.applyControls(); err != nil {
				s.e.result <- err
				releaseFrame(&f)
				return err
			}
			err := s.queueFrame(&f)
			s.e.result <- err
			if err != nil && gone(err) {
				return err
			}
		case <-s.e.kick:
			if err := s.applyControls(); err != nil {
				return err
			}
		case <-watchdog.Chan():
			if s.queuedOut > 0 && s.cfg.Clock.Since(s.progress) >= s.cfg.StallTimeout {
				return fmt.Errorf("%w: %d frames queued, nothing out for %v", ErrStalled, s.queuedOut, s.cfg.StallTimeout)
			}
		}
	}
}

func releaseFrame(f *Frame) {
	if f.Release != nil {
		f.Release()
	}
}

// applyControls sets FORCE_KEY_FRAME and BITRATE if requested. Refusals
// (EINVAL and friends) are logged once and the control is not tried again in
// this session; only device loss is an error.
func (s *session) applyControls() error {
	if s.e.forceKey.Swap(false) && !s.noForce {
		if err := s.setControl(v4l2.CIDMPEGVideoForceKeyFrame, 1); err != nil {
			if gone(err) {
				return wrap("FORCE_KEY_FRAME", err)
			}
			s.noForce = true
			s.log.Warn("control not supported, skipped", "control", "FORCE_KEY_FRAME", "err", err)
		} else {
			s.e.forced.Add(1)
		}
	}
	if b := s.e.bitrate.Load(); b != s.bitrate && !s.noBitrate {
		if err := s.setControl(v4l2.CIDMPEGVideoBitrate, b); err != nil {
			if gone(err) {
				return wrap("BITRATE", err)
			}
			s.noBitrate = true
			s.log.Warn("control not supported while streaming, skipped", "control", "BITRATE", "value", b, "err", err)
		} else {
			s.e.bitrateSets.Add(1)
		}
		s.bitrate = b
	}
	return nil
}

// queueFrame puts f into a free OUTPUT buffer and queues it.
func (s *session) queueFrame(f *Frame) error {
	i := s.free[len(s.free)-1]
	if s.cfg.InputMemory == v4l2.MemoryDMABuf {
		// Prefer the slot that last held this fd: the kernel keeps the
		// dmabuf attachment cached per slot.
		for k, j := range s.free {
			if s.out[j].fd == f.DMABuf {
				i = j
				s.free[k], s.free[len(s.free)-1] = s.free[len(s.free)-1], s.free[k]
				break
			}
		}
	}
	sl := &s.out[i]
	s.qb = v4l2.Buffer{Index: uint32(i), Type: s.outType, Memory: s.cfg.InputMemory, Field: v4l2.FieldNone}
	s.qb.Timestamp = v4l2.Timeval{Sec: int(f.Timestamp / time.Second), Usec: int(f.Timestamp % time.Second / time.Microsecond)}
	var used int
	if s.cfg.InputMemory == v4l2.MemoryMMAP {
		n, err := s.lay.copyFrame(sl.mem, f.Data)
		releaseFrame(f)
		if err != nil {
			return err
		}
		used = n
		sl.planes[0] = v4l2.Plane{BytesUsed: uint32(used), Length: uint32(len(sl.mem))}
		s.qb.Length = uint32(len(sl.mem))
	} else {
		used = f.Size
		if used == 0 {
			used = s.lay.sizeImage
		}
		sl.planes[0] = v4l2.Plane{BytesUsed: uint32(used)}
		sl.planes[0].SetFD(f.DMABuf)
		s.qb.SetFD(f.DMABuf)
	}
	s.qb.BytesUsed = uint32(used)
	if err := s.dev.QBuf(&s.qb, sl.planes[:]); err != nil {
		if s.cfg.InputMemory == v4l2.MemoryDMABuf {
			releaseFrame(f)
		}
		return wrap("VIDIOC_QBUF OUTPUT", err)
	}
	if s.queuedOut == 0 {
		s.progress = s.cfg.Clock.Now() // the stall clock starts with work
	}
	s.free = s.free[:len(s.free)-1]
	sl.queued, sl.fd, sl.release = true, f.DMABuf, nil
	if s.cfg.InputMemory == v4l2.MemoryDMABuf {
		sl.release = f.Release
	}
	s.queuedOut++
	s.e.frames.Add(1)
	return nil
}

// service dequeues whatever is ready: events, coded units, spent frames. It
// reports whether any buffer moved.
func (s *session) service(rev int16) (bool, error) {
	moved := false
	if rev&v4l2.PollPri != 0 {
		for k := 0; k < 16; k++ {
			var ev v4l2.Event
			if err := s.dev.DQEvent(&ev); err != nil {
				if gone(err) {
					return moved, wrap("VIDIOC_DQEVENT", err)
				}
				break
			}
		}
	}
	// CAPTURE: coded data.
	for !s.lastSeen {
		s.dq = v4l2.Buffer{Type: s.capType, Memory: v4l2.MemoryMMAP}
		err := s.dev.DQBuf(&s.dq, s.dqPlanes[:])
		if errors.Is(err, errAgain) {
			break
		}
		if errors.Is(err, errPipe) {
			s.lastSeen = true // dev-encoder.rst "Drain": no more buffers
			break
		}
		if err != nil {
			return moved, wrap("VIDIOC_DQBUF CAPTURE", err)
		}
		moved = true
		if err := s.deliver(); err != nil {
			return moved, err
		}
	}
	// OUTPUT: frames the encoder is done with.
	for s.queuedOut > 0 {
		s.dq = v4l2.Buffer{Type: s.outType, Memory: s.cfg.InputMemory}
		err := s.dev.DQBuf(&s.dq, s.dqPlanes[:])
		if errors.Is(err, errAgain) {
			break
		}
		if err != nil {
			return moved, wrap("VIDIOC_DQBUF OUTPUT", err)
		}
		moved = true
		i := int(s.dq.Index)
		if i >= len(s.out) || !s.out[i].queued {
			return moved, fmt.Errorf("v4l2m2m: VIDIOC_DQBUF OUTPUT: unexpected index %d", i)
		}
		sl := &s.out[i]
		sl.queued = false
		if sl.release != nil {
			sl.release()
			sl.release = nil
		}
		s.free = append(s.free, i)
		s.queuedOut--
	}
	return moved, nil
}

// deliver hands the dequeued CAPTURE buffer in s.dq to the sink and
// re-queues it (unless it was the last one of a drain).
func (s *session) deliver() error {
	i := int(s.dq.Index)
	if i >= len(s.capt) || !s.capt[i].queued {
		return fmt.Errorf("v4l2m2m: VIDIOC_DQBUF CAPTURE: unexpected index %d", i)
	}
	sl := &s.capt[i]
	sl.queued = false
	used, off := int(s.dq.BytesUsed), 0
	if s.mplane {
		used, off = int(s.dqPlanes[0].BytesUsed), int(s.dqPlanes[0].DataOffset)
	}
	flags := s.dq.Flags
	s.progress = s.cfg.Clock.Now()
	switch {
	case flags&v4l2.BufFlagError != 0:
		s.e.errs.Add(1)
		s.log.Debug("driver flagged a corrupt buffer", "index", i, "sequence", s.dq.Sequence)
	case used > off && used <= len(sl.mem):
		data := sl.mem[off:used]
		key := flags&v4l2.BufFlagKeyframe != 0
		if !key && s.cfg.CodedFormat == v4l2.PixFmtH264 {
			key = scanAU(data).idr
		}
		s.e.units.Add(1)
		s.e.bytes.Add(uint64(len(data)))
		if key {
			s.e.keyframes.Add(1)
		}
		ts := time.Duration(s.dq.Timestamp.Sec)*time.Second + time.Duration(s.dq.Timestamp.Usec)*time.Microsecond
		s.cfg.Sink(AccessUnit{Data: data, Timestamp: ts, Keyframe: key, Sequence: s.dq.Sequence})
	}
	if flags&v4l2.BufFlagLast != 0 {
		s.lastSeen = true
		return nil
	}
	return s.queueCapture(i)
}

// drain follows dev-encoder.rst "Drain": V4L2_ENC_CMD_STOP, then dequeue
// CAPTURE until a buffer carries V4L2_BUF_FLAG_LAST (or DQBUF fails with
// EPIPE), bounded by DrainTimeout.
func (s *session) drain() error {
	s.e.state.Store(int32(StateDraining))
	cmd := v4l2.EncoderCmd{Cmd: v4l2.EncCmdStop}
	if err := s.dev.EncoderCmd(&cmd); err != nil {
		if gone(err) {
			return wrap("VIDIOC_ENCODER_CMD STOP", err)
		}
		s.log.Warn("encoder has no STOP command; stopping without drain", "err", err)
		return nil
	}
	timer := s.cfg.Clock.NewTimer(s.cfg.DrainTimeout)
	defer timer.Stop()
	for !s.lastSeen {
		select {
		case rev := <-s.ready:
			_, err := s.service(rev)
			s.ack <- struct{}{}
			if err != nil {
				return err
			}
		case <-timer.Chan():
			return fmt.Errorf("%w after %v", ErrDrainTimeout, s.cfg.DrainTimeout)
		}
	}
	return nil
}

// teardown stops the poller, streaming, unmaps, frees and closes, whatever
// state setup or the loop left. Errors are logged: the device may be gone.
func (s *session) teardown() {
	s.stopPoller()
	if s.streaming {
		_ = s.dev.StreamOff(s.outType)
		_ = s.dev.StreamOff(s.capType)
	}
	for i := range s.out {
		sl := &s.out[i]
		if sl.release != nil {
			sl.release() // STREAMOFF returned every buffer to us
			sl.release = nil
		}
		if sl.mem != nil {
			_ = s.dev.Munmap(sl.mem)
			sl.mem = nil
		}
	}
	for i := range s.capt {
		if s.capt[i].mem != nil {
			_ = s.dev.Munmap(s.capt[i].mem)
			s.capt[i].mem = nil
		}
	}
	if s.out != nil {
		_ = s.dev.ReqBufs(&v4l2.RequestBuffers{Type: s.outType, Memory: s.cfg.InputMemory})
	}
	if s.capt != nil {
		_ = s.dev.ReqBufs(&v4l2.RequestBuffers{Type: s.capType, Memory: v4l2.MemoryMMAP})
	}
	if err := s.dev.Close(); err != nil {
		s.log.Debug("close", "err", err)
	}
}

func ctrlName(id uint32) string {
	switch id {
	case v4l2.CIDMPEGVideoBitrate:
		return "BITRATE"
	case v4l2.CIDMPEGVideoBitrateMode:
		return "BITRATE_MODE"
	case v4l2.CIDMPEGVideoH264IPeriod:
		return "H264_I_PERIOD"
	case v4l2.CIDMPEGVideoGOPSize:
		return "GOP_SIZE"
	case v4l2.CIDMPEGVideoH264Profile:
		return "H264_PROFILE"
	case v4l2.CIDMPEGVideoH264Level:
		return "H264_LEVEL"
	case v4l2.CIDMPEGVideoRepeatSeqHeader:
		return "REPEAT_SEQ_HEADER"
	case v4l2.CIDMPEGVideoH264MinQP:
		return "H264_MIN_QP"
	case v4l2.CIDMPEGVideoH264MaxQP:
		return "H264_MAX_QP"
	case v4l2.CIDMPEGVideoForceKeyFrame:
		return "FORCE_KEY_FRAME"
	}
	return fmt.Sprintf("control %#x", id)
}
