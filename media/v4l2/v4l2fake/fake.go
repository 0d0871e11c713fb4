// Package v4l2fake is an in-memory stateful mem2mem encoder behind
// v4l2.Device, for tests of the encoder code above it: it lives in its own
// package so that no production binary links it.
package v4l2fake

import (
	"errors"
	"strconv"
	"sync"
	"syscall"
	"time"

	"tether/media/v4l2"
)

// Op names a Device method, for scripting the Fake's failures.
type Op uint8

// Device operations.
const (
	OpQueryCap Op = iota
	OpEnumFmt
	OpEnumFrameSizes
	OpGetFormat
	OpSetFormat
	OpTryFormat
	OpSetParm
	OpReqBufs
	OpQueryBuf
	OpQBuf
	OpDQBuf
	OpExpBuf
	OpStreamOn
	OpStreamOff
	OpQueryCtrl
	OpSetControl
	OpSetControls
	OpEncoderCmd
	OpTryEncoderCmd
	OpSubscribeEvent
	OpDQEvent
	OpMmap
	OpPoll
)

var opNames = [...]string{"QUERYCAP", "ENUM_FMT", "ENUM_FRAMESIZES", "G_FMT", "S_FMT", "TRY_FMT",
	"S_PARM", "REQBUFS", "QUERYBUF", "QBUF", "DQBUF", "EXPBUF", "STREAMON", "STREAMOFF",
	"QUERYCTRL", "S_CTRL", "S_EXT_CTRLS", "ENCODER_CMD", "TRY_ENCODER_CMD", "SUBSCRIBE_EVENT",
	"DQEVENT", "mmap", "poll"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "Op(" + strconv.FormatUint(uint64(o), 10) + ")"
}

// Fake is an in-memory stateful mem2mem encoder (the kernel's "Memory-to-
// Memory Stateful Video Encoder Interface") behind the Device interface. Raw
// frames queued on OUTPUT come back as synthetic access units on CAPTURE: an
// H.264 Annex B stream (SPS, PPS and an IDR slice when a keyframe is due or
// forced, a non-IDR slice otherwise) or opaque bytes for other coded formats.
// It honours the codec controls it knows, drains on V4L2_ENC_CMD_STOP with
// V4L2_BUF_FLAG_LAST then EPIPE, and can be scripted to fail.
//
// The exported fields configure it before first use; the function fields
// are called with the Fake's lock held and must not call back into it.
type Fake struct {
	Driver, Card string
	// MPlane selects the multi-planar API (V4L2_CAP_VIDEO_M2M_MPLANE, like
	// bcm2835-codec); false gives the single-planar one (V4L2_CAP_VIDEO_M2M,
	// like vicodec's default).
	MPlane bool
	// Coded lists CAPTURE formats, Raw the OUTPUT formats.
	Coded, Raw []uint32
	// MaxBuffers caps REQBUFS counts.
	MaxBuffers int
	// Controls lists the supported controls with their initial values; any
	// other ID is answered with EINVAL.
	Controls map[uint32]int64

	// Fail, if set, runs first in every operation; a non-nil error (usually a
	// syscall.Errno) is returned instead of performing it.
	Fail func(op Op) error
	// ControlErr, if set, may reject one control of S_CTRL/S_EXT_CTRLS.
	ControlErr func(id uint32, value int64) error
	// OnFrame, if set, sees each raw frame as the fake encodes it.
	OnFrame func(data []byte, ts v4l2.Timeval)
	// Corrupt, if set, marks the CAPTURE buffer of frame n (counted from
	// 0 since STREAMON) with V4L2_BUF_FLAG_ERROR, as a driver does when the
	// hardware fails on one frame.
	Corrupt func(n int) bool

	once   sync.Once
	notify chan struct{} // cap 1: state changed, wakes Poll
	timer  *time.Timer   // reused by Poll; owned by the polling goroutine

	mu       sync.Mutex // guards everything below
	closed   bool
	vanished bool
	fmts     [2]v4l2.Format // [0] OUTPUT, [1] CAPTURE
	tpf      v4l2.Fract
	ctrls    map[uint32]int64
	q        [2]fakeQueue
	mapped   map[*byte]bool
	events   []v4l2.Event
	subEOS   bool
	stopping bool
	lastSent bool
	frames   int // frames encoded since the stream started
	sinceKey int
	force    bool
	paused   bool
	stats    FakeStats
}

// FakeStats counts what the Fake saw.
type FakeStats struct {
	Frames    int // raw frames encoded
	Keyframes int // IDR access units produced
	Forced    int // keyframes produced because of FORCE_KEY_FRAME
	Headers   int // access units carrying SPS+PPS
	Drains    int // V4L2_ENC_CMD_STOP accepted
	Bytes     int // coded bytes produced
}

type fakeQueue struct {
	mem       v4l2.Memory
	bufs      []fakeBuf
	streaming bool
	pending   []int // queued, waiting for the encoder
	done      []int // processed, waiting for DQBUF
}

type fakeBuf struct {
	data      []byte
	queued    bool
	bytesused uint32
	flags     uint32
	ts        v4l2.Timeval
	seq       uint32
	fd        int32
}

// NewFake returns a multi-planar fake H.264 encoder accepting NV12, YU12 and
// YUYV, with the controls bcm2835-codec offers.
func NewFake() *Fake {
	return &Fake{
		Driver:     "fake-m2m",
		Card:       "fake H.264 encoder",
		MPlane:     true,
		Coded:      []uint32{v4l2.PixFmtH264},
		Raw:        []uint32{v4l2.PixFmtNV12, v4l2.PixFmtYUV420, v4l2.PixFmtYUYV},
		MaxBuffers: 16,
		Controls: map[uint32]int64{
			v4l2.CIDMPEGVideoBitrate:         10_000_000,
			v4l2.CIDMPEGVideoBitrateMode:     v4l2.BitrateModeVBR,
			v4l2.CIDMPEGVideoH264IPeriod:     60,
			v4l2.CIDMPEGVideoH264Profile:     v4l2.H264ProfileHigh,
			v4l2.CIDMPEGVideoH264Level:       v4l2.H264Level4_0,
			v4l2.CIDMPEGVideoRepeatSeqHeader: 0,
			v4l2.CIDMPEGVideoH264MinQP:       0,
			v4l2.CIDMPEGVideoH264MaxQP:       51,
			v4l2.CIDMPEGVideoForceKeyFrame:   0,
		},
	}
}

func (f *Fake) init() {
	f.once.Do(func() {
		f.notify = make(chan struct{}, 1)
		f.timer = time.NewTimer(time.Hour)
		f.timer.Stop()
		f.mapped = map[*byte]bool{}
		f.ctrls = map[uint32]int64{}
		for k, v := range f.Controls {
			f.ctrls[k] = v
		}
		if f.MaxBuffers == 0 {
			f.MaxBuffers = 16
		}
		f.tpf = v4l2.Fract{Numerator: 1, Denominator: 30}
		out, capt := f.types()
		f.fmts[0].Type, f.fmts[1].Type = out, capt
		f.setDefaults(&f.fmts[0], f.Raw[0], 640, 480)
		f.setDefaults(&f.fmts[1], f.Coded[0], 640, 480)
	})
}

func (f *Fake) types() (out, capt v4l2.BufType) {
	if f.MPlane {
		return v4l2.BufTypeVideoOutputMPlane, v4l2.BufTypeVideoCaptureMPlane
	}
	return v4l2.BufTypeVideoOutput, v4l2.BufTypeVideoCapture
}

// qi maps a buffer type to the queue index, or -1.
func (f *Fake) qi(t v4l2.BufType) int {
	out, capt := f.types()
	switch t {
	case out:
		return 0
	case capt:
		return 1
	}
	return -1
}

// begin takes the lock and runs the scripted failure and vanish checks.
func (f *Fake) begin(op Op) error {
	f.init()
	f.mu.Lock()
	if f.closed {
		return syscall.EBADF
	}
	if f.Fail != nil {
		if err := f.Fail(op); err != nil {
			return err
		}
	}
	if f.vanished {
		return syscall.ENODEV
	}
	return nil
}

func (f *Fake) wake() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// Vanish makes the device behave as if unplugged: every later call fails
// with ENODEV and Poll reports POLLERR, as after a USB disconnect.
func (f *Fake) Vanish() {
	f.init()
	f.mu.Lock()
	f.vanished = true
	f.mu.Unlock()
	f.wake()
}

// SetFail replaces Fail while the fake is in use.
func (f *Fake) SetFail(fn func(op Op) error) {
	f.init()
	f.mu.Lock()
	f.Fail = fn
	f.mu.Unlock()
}

// Pause stops the fake's "hardware": queued buffers wait until Resume, as
// with a busy or wedged encoder.
func (f *Fake) Pause() {
	f.init()
	f.mu.Lock()
	f.paused = true
	f.mu.Unlock()
}

// Resume restarts processing after Pause.
func (f *Fake) Resume() {
	f.init()
	f.mu.Lock()
	f.paused = false
	f.process()
	f.mu.Unlock()
}

// Stats returns the counters.
func (f *Fake) Stats() FakeStats {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Control returns the current value of a control.
func (f *Fake) Control(id uint32) (int64, bool) {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.ctrls[id]
	return v, ok
}

// Mapped returns how many buffers are mmapped and not yet unmapped.
func (f *Fake) Mapped() int {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mapped)
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Queued returns how many buffers of type t are owned by the driver
// (queued or done, not yet dequeued).
func (f *Fake) Queued(t v4l2.BufType) int {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.qi(t)
	if i < 0 {
		return 0
	}
	return len(f.q[i].pending) + len(f.q[i].done)
}

// Format returns the current format of queue type t.
func (f *Fake) Format(t v4l2.BufType) v4l2.Format {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.qi(t); i >= 0 {
		return f.fmts[i]
	}
	return v4l2.Format{}
}

// Streaming reports whether queue type t is streaming.
func (f *Fake) Streaming(t v4l2.BufType) bool {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.qi(t); i >= 0 {
		return f.q[i].streaming
	}
	return false
}

func (f *Fake) QueryCap(c *v4l2.Capability) error {
	if err := f.begin(OpQueryCap); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	*c = v4l2.Capability{}
	copy(c.Driver[:len(c.Driver)-1], f.Driver)
	copy(c.Card[:len(c.Card)-1], f.Card)
	copy(c.BusInfo[:], "platform:fake")
	c.DeviceCaps = v4l2.CapStreaming | v4l2.CapVideoM2M
	if f.MPlane {
		c.DeviceCaps = v4l2.CapStreaming | v4l2.CapVideoM2MMPlane
	}
	c.Capabilities = c.DeviceCaps | v4l2.CapDeviceCaps
	return nil
}

func (f *Fake) EnumFmt(d *v4l2.FmtDesc) error {
	if err := f.begin(OpEnumFmt); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	var list []uint32
	switch f.qi(d.Type) {
	case 0:
		list = f.Raw
	case 1:
		list = f.Coded
	default:
		return syscall.EINVAL
	}
	if int(d.Index) >= len(list) {
		return syscall.EINVAL
	}
	d.PixelFormat = list[d.Index]
	d.Flags = 0
	d.Description = [32]byte{}
	copy(d.Description[:], v4l2.FourccString(d.PixelFormat))
	return nil
}

func (f *Fake) EnumFrameSizes(s *v4l2.FrmSizeEnum) error {
	if err := f.begin(OpEnumFrameSizes); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	if s.Index != 0 || !(contains(f.Raw, s.PixelFormat) || contains(f.Coded, s.PixelFormat)) {
		return syscall.EINVAL
	}
	s.Type = v4l2.FrmSizeTypeStepwise
	s.U = [6]uint32{32, 1920, 2, 32, 1088, 2}
	return nil
}

func contains(l []uint32, v uint32) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// setDefaults fills a format for pixfmt at w x h the way a driver would:
// strides aligned to 32 bytes and heights to 16 lines, like bcm2835-codec.
func (f *Fake) setDefaults(x *v4l2.Format, pixfmt uint32, w, h uint32) {
	w = clamp(w&^1, 32, 1920)
	h = clamp(h&^1, 32, 1088)
	var bpl, size uint32
	switch pixfmt {
	case v4l2.PixFmtNV12, v4l2.PixFmtYUV420:
		bpl = (w + 31) &^ 31
		size = bpl * ((h + 15) &^ 15) * 3 / 2
	case v4l2.PixFmtYUYV:
		bpl = (w*2 + 31) &^ 31
		size = bpl * h
	default: // coded
		bpl = 0
		size = 512 << 10
	}
	if x.Type.MPlane() {
		*x = v4l2.Format{Type: x.Type}
		p := x.PixMP()
		p.Width, p.Height, p.PixelFormat, p.Field = w, h, pixfmt, v4l2.FieldNone
		p.NumPlanes = 1
		p.PlaneFmt[0].BytesPerLine, p.PlaneFmt[0].SizeImage = bpl, size
		return
	}
	*x = v4l2.Format{Type: x.Type}
	p := x.Pix()
	p.Width, p.Height, p.PixelFormat, p.Field = w, h, pixfmt, v4l2.FieldNone
	p.BytesPerLine, p.SizeImage = bpl, size
}

func clamp(v, lo, hi uint32) uint32 {
	return min(max(v, lo), hi)
}

func fmtFields(x *v4l2.Format) (w, h, pix uint32) {
	if x.Type.MPlane() {
		p := x.PixMP()
		return p.Width, p.Height, p.PixelFormat
	}
	p := x.Pix()
	return p.Width, p.Height, p.PixelFormat
}

func (f *Fake) tryFmt(x *v4l2.Format) (int, error) {
	i := f.qi(x.Type)
	if i < 0 {
		return -1, syscall.EINVAL
	}
	w, h, pix := fmtFields(x)
	list := f.Raw
	if i == 1 {
		list = f.Coded
	}
	if !contains(list, pix) {
		pix = list[0] // drivers substitute a supported format
	}
	if i == 1 {
		// The coded size follows OUTPUT (the stateful encoder spec sets the
		// CAPTURE format first; width/height there are informative).
		w, h, _ = fmtFields(&f.fmts[0])
	}
	f.setDefaults(x, pix, w, h)
	return i, nil
}

func (f *Fake) TryFormat(x *v4l2.Format) error {
	if err := f.begin(OpTryFormat); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	_, err := f.tryFmt(x)
	return err
}

func (f *Fake) GetFormat(x *v4l2.Format) error {
	if err := f.begin(OpGetFormat); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	i := f.qi(x.Type)
	if i < 0 {
		return syscall.EINVAL
	}
	*x = f.fmts[i]
	return nil
}

func (f *Fake) SetFormat(x *v4l2.Format) error {
	if err := f.begin(OpSetFormat); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	if i := f.qi(x.Type); i >= 0 && len(f.q[i].bufs) > 0 {
		return syscall.EBUSY // vb2: format is fixed while buffers exist
	}
	i, err := f.tryFmt(x)
	if err != nil {
		return err
	}
	f.fmts[i] = *x
	return nil
}

func (f *Fake) SetParm(p *v4l2.StreamParm) error {
	if err := f.begin(OpSetParm); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	if f.qi(p.Type) != 0 {
		return syscall.EINVAL
	}
	o := p.Output()
	if o.TimePerFrame.Numerator == 0 || o.TimePerFrame.Denominator == 0 {
		o.TimePerFrame = f.tpf
	}
	f.tpf = o.TimePerFrame
	o.Capability = 0x1000 // V4L2_CAP_TIMEPERFRAME
	return nil
}

func (f *Fake) ReqBufs(r *v4l2.RequestBuffers) error {
	if err := f.begin(OpReqBufs); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	i := f.qi(r.Type)
	if i < 0 || (r.Memory != v4l2.MemoryMMAP && r.Memory != v4l2.MemoryDMABuf) {
		return syscall.EINVAL
	}
	q := &f.q[i]
	if q.streaming && r.Count > 0 {
		return syscall.EBUSY
	}
	n := min(int(r.Count), f.MaxBuffers)
	size := f.sizeImage(i)
	q.bufs = make([]fakeBuf, n)
	for j := range q.bufs {
		if r.Memory == v4l2.MemoryMMAP {
			q.bufs[j].data = make([]byte, size)
		}
	}
	q.mem = r.Memory
	q.pending, q.done = q.pending[:0], q.done[:0]
	r.Count = uint32(n)
	r.Capabilities = 1 | 4 // V4L2_BUF_CAP_SUPPORTS_MMAP | _DMABUF
	return nil
}

func (f *Fake) sizeImage(i int) uint32 {
	x := &f.fmts[i]
	if x.Type.MPlane() {
		return x.PixMP().PlaneFmt[0].SizeImage
	}
	return x.Pix().SizeImage
}

// offset is the fake mmap cookie of buffer j in queue i.
func offset(i, j int) uint32 { return uint32(i)<<28 | uint32(j)<<16 }

// buf validates b against the queues.
func (f *Fake) buf(b *v4l2.Buffer, planes []v4l2.Plane) (*fakeQueue, *fakeBuf, int, error) {
	i := f.qi(b.Type)
	if i < 0 || (b.Type.MPlane() && len(planes) == 0) {
		return nil, nil, -1, syscall.EINVAL
	}
	q := &f.q[i]
	if int(b.Index) >= len(q.bufs) {
		return nil, nil, -1, syscall.EINVAL
	}
	return q, &q.bufs[b.Index], i, nil
}

func (f *Fake) fill(b *v4l2.Buffer, planes []v4l2.Plane, i int, fb *fakeBuf) {
	q := &f.q[i]
	b.Memory = q.mem
	b.Flags = fb.flags
	if fb.queued {
		b.Flags |= v4l2.BufFlagQueued
	}
	b.Timestamp, b.Sequence, b.Field = fb.ts, fb.seq, v4l2.FieldNone
	size := f.sizeImage(i)
	if b.Type.MPlane() {
		b.Length = 1
		p := &planes[0]
		p.BytesUsed, p.Length, p.DataOffset = fb.bytesused, size, 0
		if q.mem == v4l2.MemoryMMAP {
			p.M = uintptr(offset(i, int(b.Index)))
		} else {
			p.SetFD(int(fb.fd))
		}
		b.BytesUsed = 0
		return
	}
	b.BytesUsed, b.Length = fb.bytesused, size
	if q.mem == v4l2.MemoryMMAP {
		b.M = uintptr(offset(i, int(b.Index)))
	} else {
		b.SetFD(int(fb.fd))
	}
}

func (f *Fake) QueryBuf(b *v4l2.Buffer, planes []v4l2.Plane) error {
	if err := f.begin(OpQueryBuf); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	_, fb, i, err := f.buf(b, planes)
	if err != nil {
		return err
	}
	f.fill(b, planes, i, fb)
	return nil
}

func (f *Fake) QBuf(b *v4l2.Buffer, planes []v4l2.Plane) error {
	if err := f.begin(OpQBuf); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	q, fb, i, err := f.buf(b, planes)
	if err != nil {
		return err
	}
	if fb.queued || b.Memory != q.mem {
		return syscall.EINVAL
	}
	if i == 0 {
		used, fd := b.BytesUsed, b.FD()
		if b.Type.MPlane() {
			used, fd = planes[0].BytesUsed, planes[0].FD()
		}
		if used == 0 || used > f.sizeImage(0) && q.mem == v4l2.MemoryMMAP {
			return syscall.EINVAL
		}
		if q.mem == v4l2.MemoryDMABuf && fd < 0 {
			return syscall.EBADF
		}
		fb.bytesused, fb.fd, fb.ts = used, fd, b.Timestamp
	}
	fb.queued, fb.flags = true, 0
	q.pending = append(q.pending, int(b.Index))
	b.Flags |= v4l2.BufFlagQueued
	f.process()
	return nil
}

func (f *Fake) DQBuf(b *v4l2.Buffer, planes []v4l2.Plane) error {
	if err := f.begin(OpDQBuf); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	i := f.qi(b.Type)
	if i < 0 || (b.Type.MPlane() && len(planes) == 0) {
		return syscall.EINVAL
	}
	q := &f.q[i]
	if !q.streaming {
		return syscall.EINVAL
	}
	if len(q.done) == 0 {
		if i == 1 && f.lastSent {
			return syscall.EPIPE // after the LAST buffer, until STREAMOFF or CMD_START
		}
		return syscall.EAGAIN
	}
	j := q.done[0]
	q.done = append(q.done[:0], q.done[1:]...)
	fb := &q.bufs[j]
	fb.queued = false
	b.Index = uint32(j)
	f.fill(b, planes, i, fb)
	return nil
}

func (f *Fake) ExpBuf(e *v4l2.ExportBuffer) error {
	if err := f.begin(OpExpBuf); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	return syscall.ENOTTY // the fake has no dmabuf exporter
}

func (f *Fake) StreamOn(t v4l2.BufType) error {
	if err := f.begin(OpStreamOn); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	i := f.qi(t)
	if i < 0 || len(f.q[i].bufs) == 0 {
		return syscall.EINVAL
	}
	f.q[i].streaming = true
	if i == 1 {
		f.lastSent, f.stopping = false, false
	}
	if i == 0 && !f.q[1].streaming {
		f.frames, f.sinceKey = 0, 0
	}
	f.process()
	return nil
}

func (f *Fake) StreamOff(t v4l2.BufType) error {
	if err := f.begin(OpStreamOff); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	i := f.qi(t)
	if i < 0 {
		return syscall.EINVAL
	}
	q := &f.q[i]
	q.streaming = false
	for j := range q.bufs {
		q.bufs[j].queued = false
	}
	q.pending, q.done = q.pending[:0], q.done[:0]
	if i == 1 {
		f.lastSent, f.stopping = false, false
	}
	return nil
}

func (f *Fake) QueryCtrl(qc *v4l2.QueryCtrl) error {
	if err := f.begin(OpQueryCtrl); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	v, ok := f.ctrls[qc.ID]
	if !ok {
		return syscall.EINVAL
	}
	qc.Type, qc.Minimum, qc.Maximum, qc.Step, qc.DefaultValue = 1, 0, 1<<30, 1, int32(v)
	return nil
}

// setCtrl applies one control; the lock is held.
func (f *Fake) setCtrl(id uint32, v int64) error {
	if _, ok := f.ctrls[id]; !ok {
		return syscall.EINVAL
	}
	if f.ControlErr != nil {
		if err := f.ControlErr(id, v); err != nil {
			return err
		}
	}
	if id == v4l2.CIDMPEGVideoForceKeyFrame {
		f.force = true // a button control: no stored value
		return nil
	}
	f.ctrls[id] = v
	return nil
}

func (f *Fake) SetControl(c *v4l2.Control) error {
	if err := f.begin(OpSetControl); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	return f.setCtrl(c.ID, int64(c.Value))
}

// SetControls validates all controls before applying any, like the kernel's
// S_EXT_CTRLS: on failure ErrorIdx names the culprit and nothing changed.
func (f *Fake) SetControls(c *v4l2.ExtControls, ctrls []v4l2.ExtControl) error {
	if err := f.begin(OpSetControls); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	c.Count = uint32(len(ctrls))
	for k := range ctrls {
		id := ctrls[k].ID
		_, ok := f.ctrls[id]
		var err error
		if !ok {
			err = syscall.EINVAL
		} else if f.ControlErr != nil {
			err = f.ControlErr(id, int64(ctrls[k].Value()))
		}
		if err != nil {
			c.ErrorIdx = uint32(k)
			return err
		}
	}
	for k := range ctrls {
		_ = f.setCtrl(ctrls[k].ID, int64(ctrls[k].Value()))
	}
	return nil
}

func (f *Fake) TryEncoderCmd(c *v4l2.EncoderCmd) error {
	if err := f.begin(OpTryEncoderCmd); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	if c.Cmd != v4l2.EncCmdStop && c.Cmd != v4l2.EncCmdStart {
		return syscall.EINVAL
	}
	return nil
}

// EncoderCmd implements STOP (drain: the buffer holding the last frame, or
// an empty one, carries V4L2_BUF_FLAG_LAST) and START (resume after a drain).
func (f *Fake) EncoderCmd(c *v4l2.EncoderCmd) error {
	if err := f.begin(OpEncoderCmd); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	switch c.Cmd {
	case v4l2.EncCmdStop:
		if !f.q[0].streaming || !f.q[1].streaming {
			return nil // the spec: no effect unless both queues stream
		}
		if !f.stopping {
			f.stats.Drains++
		}
		f.stopping = true
		f.process()
	case v4l2.EncCmdStart:
		f.stopping, f.lastSent = false, false
	default:
		return syscall.EINVAL
	}
	return nil
}

func (f *Fake) SubscribeEvent(s *v4l2.EventSubscription) error {
	if err := f.begin(OpSubscribeEvent); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	switch s.Type {
	case v4l2.EventEOS:
		f.subEOS = true
	case v4l2.EventSourceChange:
	default:
		return syscall.EINVAL
	}
	return nil
}

func (f *Fake) DQEvent(e *v4l2.Event) error {
	if err := f.begin(OpDQEvent); err != nil {
		f.mu.Unlock()
		return err
	}
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		return syscall.ENOENT
	}
	*e = f.events[0]
	f.events = append(f.events[:0], f.events[1:]...)
	e.Pending = uint32(len(f.events))
	return nil
}

func (f *Fake) Mmap(off int64, length int) ([]byte, error) {
	if err := f.begin(OpMmap); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	defer f.mu.Unlock()
	i, j := int(off>>28), int(off>>16)&0xfff
	if i > 1 || j >= len(f.q[i].bufs) || f.q[i].mem != v4l2.MemoryMMAP || off != int64(offset(i, j)) {
		return nil, syscall.EINVAL
	}
	d := f.q[i].bufs[j].data
	if length <= 0 || length > len(d) {
		return nil, syscall.EINVAL
	}
	f.mapped[&d[0]] = true
	return d[:length:length], nil
}

// Munmap works even after Vanish, like munmap(2) after a disconnect.
func (f *Fake) Munmap(b []byte) error {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(b) == 0 || !f.mapped[&b[0]] {
		return syscall.EINVAL
	}
	delete(f.mapped, &b[0])
	return nil
}

// ready computes poll revents; the lock is held.
func (f *Fake) ready(events int16) int16 {
	if f.vanished {
		return v4l2.PollErr | v4l2.PollHup
	}
	var r int16
	if len(f.q[1].done) > 0 || (f.lastSent && f.q[1].streaming) {
		r |= v4l2.PollIn
	}
	if len(f.q[0].done) > 0 {
		r |= v4l2.PollOut
	}
	if len(f.events) > 0 {
		r |= v4l2.PollPri
	}
	return r & (events | v4l2.PollErr | v4l2.PollHup)
}

// Poll blocks until the fake's state makes one of events ready or timeout
// passes (a bounded wait; the fake never needs it to elapse).
func (f *Fake) Poll(events int16, timeout time.Duration) (int16, error) {
	if err := f.begin(OpPoll); err != nil {
		f.mu.Unlock()
		if errors.Is(err, syscall.ENODEV) {
			return v4l2.PollErr | v4l2.PollHup, nil // poll(2) on an unregistered node
		}
		return 0, err
	}
	r := f.ready(events)
	f.mu.Unlock()
	if r != 0 {
		return r, nil
	}
	f.timer.Reset(timeout)
	defer f.timer.Stop()
	for {
		select {
		case <-f.notify:
		case <-f.timer.C:
			return 0, nil
		}
		f.mu.Lock()
		r = f.ready(events)
		closed := f.closed
		f.mu.Unlock()
		if closed {
			return 0, syscall.EBADF
		}
		if r != 0 {
			return r, nil
		}
	}
}

func (f *Fake) Close() error {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	f.wake()
	return nil
}

// process runs the "hardware": it pairs queued OUTPUT and CAPTURE buffers
// while both queues stream, and completes a drain. The lock is held.
func (f *Fake) process() {
	out, capt := &f.q[0], &f.q[1]
	if f.paused || !out.streaming || !capt.streaming {
		return
	}
	changed := false
	for len(out.pending) > 0 && len(capt.pending) > 0 && !f.lastSent {
		oi, ci := out.pending[0], capt.pending[0]
		out.pending = append(out.pending[:0], out.pending[1:]...)
		capt.pending = append(capt.pending[:0], capt.pending[1:]...)
		ob, cb := &out.bufs[oi], &capt.bufs[ci]
		if f.OnFrame != nil {
			var raw []byte
			if ob.data != nil {
				raw = ob.data[:ob.bytesused]
			}
			f.OnFrame(raw, ob.ts)
		}
		f.encode(cb)
		cb.ts, cb.flags = ob.ts, cb.flags|v4l2.BufFlagTimestampCopy
		out.done = append(out.done, oi)
		if f.stopping && len(out.pending) == 0 {
			cb.flags |= v4l2.BufFlagLast
			f.finishDrain()
		}
		capt.done = append(capt.done, ci)
		changed = true
	}
	if f.stopping && !f.lastSent && len(out.pending) == 0 && len(capt.pending) > 0 {
		ci := capt.pending[0]
		capt.pending = append(capt.pending[:0], capt.pending[1:]...)
		cb := &capt.bufs[ci]
		cb.bytesused, cb.flags, cb.seq = 0, v4l2.BufFlagLast, uint32(f.frames)
		f.finishDrain()
		capt.done = append(capt.done, ci)
		changed = true
	}
	if changed {
		f.wake()
	}
}

func (f *Fake) finishDrain() {
	f.lastSent = true
	if f.subEOS {
		f.events = append(f.events, v4l2.Event{Type: v4l2.EventEOS})
	}
}

// encode writes one synthetic access unit into cb. Its size follows the
// bitrate control (bitrate / 8 * frame interval), so a bitrate change is
// visible in the output; keyframes are four times larger.
func (f *Fake) encode(cb *fakeBuf) {
	period := int(f.ctrls[v4l2.CIDMPEGVideoH264IPeriod])
	if g, ok := f.ctrls[v4l2.CIDMPEGVideoGOPSize]; ok && period == 0 {
		period = int(g)
	}
	key := f.frames == 0 || f.force || (period > 0 && f.sinceKey >= period)
	if key && f.force && f.frames > 0 {
		f.stats.Forced++
	}
	f.force = false
	bitrate := f.ctrls[v4l2.CIDMPEGVideoBitrate]
	if bitrate <= 0 {
		bitrate = 1_000_000
	}
	size := int(bitrate / 8 * int64(f.tpf.Numerator) / int64(max(f.tpf.Denominator, 1)))
	if key {
		size *= 4
	}
	size = min(max(size, 8), len(cb.data)-64)
	d := cb.data[:0]
	_, _, coded := fmtFields(&f.fmts[1])
	if coded == v4l2.PixFmtH264 {
		if key && (f.frames == 0 || f.ctrls[v4l2.CIDMPEGVideoRepeatSeqHeader] != 0) {
			d = append(d, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40) // SPS, constrained baseline 3.1
			d = append(d, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80)                   // PPS
			f.stats.Headers++
		}
		if key {
			d = append(d, 0, 0, 0, 1, 0x65) // IDR slice
		} else {
			d = append(d, 0, 0, 0, 1, 0x41) // non-IDR slice
		}
	}
	for len(d) < size {
		d = append(d, byte(0x80|(len(d)+f.frames)&0x7f)) // never 0x00: no false start codes
	}
	cb.bytesused = uint32(len(d))
	cb.seq = uint32(f.frames)
	cb.flags = v4l2.BufFlagPFrame
	if key {
		cb.flags = v4l2.BufFlagKeyframe
		f.stats.Keyframes++
		f.sinceKey = 0
	}
	if f.Corrupt != nil && f.Corrupt(f.frames) {
		cb.flags |= v4l2.BufFlagError
	}
	f.sinceKey++
	f.frames++
	f.stats.Frames++
	f.stats.Bytes += len(d)
}

var _ v4l2.Device = (*Fake)(nil)
