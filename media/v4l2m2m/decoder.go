package v4l2m2m

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"tether/media/v4l2"
)

// The stateful decoder, Documentation/userspace-api/media/v4l/
// dev-decoder.rst ("Memory-to-Memory Stateful Video Decoder Interface").
// Unlike the Encoder, a Decoder has no goroutine of its own: its one user
// (the display's Run loop) calls Decode per access unit and gets the newest
// picture back, so the buffer state machine runs on that caller's
// goroutine and needs no channels. It reuses the encoder's buffer code
// (slot, reqBufs-style MMAP, layout) and ABI (media/v4l2).

// ErrNotDecoder: the node is no stateful mem2mem decoder for the format.
var ErrNotDecoder = errors.New("v4l2m2m: not a mem2mem decoder for this format")

// ErrTooLarge: an access unit does not fit an OUTPUT buffer.
var ErrTooLarge = errors.New("v4l2m2m: access unit larger than the OUTPUT buffers")

// DecoderConfig describes one decoder. Zero fields take the defaults noted.
type DecoderConfig struct {
	// Open opens the node (required; OpenPath(path)).
	Open func() (v4l2.Device, error)
	// CodedFormat on OUTPUT: v4l2.PixFmtH264 (default) or PixFmtFWHT
	// (vicodec, the rig's stateful decoder).
	CodedFormat uint32
	// Width and Height are the placeholder coded size set on OUTPUT
	// (Initialization step 1; default 640x480): the decoder parses the
	// real one from the stream and signals a source change.
	Width, Height int
	// BufferSize is the OUTPUT buffers' sizeimage (default 1 MiB).
	BufferSize int
	// OutputBuffers and CaptureBuffers (defaults 4 and 4; CAPTURE gets at
	// least V4L2_CID_MIN_BUFFERS_FOR_CAPTURE if the driver says so).
	OutputBuffers, CaptureBuffers int
	// Wait bounds how long Decode waits for a picture after queuing its
	// unit (default 100 ms); a picture later than that comes with the
	// next Decode.
	Wait time.Duration
	// Logger (default slog.Default()); records get component=v4l2m2m.
	Logger *slog.Logger
}

// Picture is one decoded frame in driver memory, valid until the next
// Decode, Drain or Close. Format is v4l2.PixFmtYUV420 or PixFmtNV12.
type Picture struct {
	Data          []byte
	Format        uint32
	Width, Height int // visible size
	Stride        int // luma bytes per line (chroma: Stride/2 for I420, Stride for NV12)
	LumaRows      int // rows of luma before the chroma in Data
	Timestamp     time.Duration
}

// Planes returns the luma and chroma planes (v nil for NV12).
func (p *Picture) Planes() (y, u, v []byte, cstride int) {
	ys := p.Stride * p.LumaRows
	if p.Format == v4l2.PixFmtNV12 {
		return p.Data[:ys], p.Data[ys:], nil, p.Stride
	}
	cs := p.Stride / 2 * (p.LumaRows / 2)
	return p.Data[:ys], p.Data[ys : ys+cs], p.Data[ys+cs:], p.Stride / 2
}

// DecoderStats are cumulative counters.
type DecoderStats struct {
	Units, Pictures, SourceChanges, Errors uint64
}

// Decoder is a stateful V4L2 mem2mem decoder. Not safe for concurrent use.
type Decoder struct {
	cfg DecoderConfig
	log *slog.Logger
	dev v4l2.DecoderDevice

	mplane           bool
	outType, capType v4l2.BufType
	out, capt        []slot
	freeOut          []int
	queuedOut        int
	capStreaming     bool
	capLay           layout
	visW, visH       int
	held             int  // CAPTURE slot handed out with the last Picture, -1 none
	changing         bool // source change seen, waiting for LAST before Capture Setup
	draining         bool
	seq              int64
	stats            DecoderStats

	dq       v4l2.Buffer
	dqPlanes [1]v4l2.Plane
	qb       v4l2.Buffer
}

// NewDecoder opens the node and runs "Initialization": OUTPUT coded
// format (step 1), OUTPUT buffers (2), STREAMON OUTPUT (3); the CAPTURE
// side waits for the decoder's source change event (step 4).
func NewDecoder(cfg DecoderConfig) (*Decoder, error) {
	if cfg.Open == nil {
		return nil, fmt.Errorf("%w: Open is nil", ErrConfig)
	}
	if cfg.CodedFormat == 0 {
		cfg.CodedFormat = v4l2.PixFmtH264
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		cfg.Width, cfg.Height = 640, 480
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = 1 << 20
	}
	if cfg.OutputBuffers == 0 {
		cfg.OutputBuffers = 4
	}
	if cfg.CaptureBuffers == 0 {
		cfg.CaptureBuffers = 4
	}
	if cfg.Wait == 0 {
		cfg.Wait = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OutputBuffers > 32 || cfg.CaptureBuffers > 32 || cfg.BufferSize > 16<<20 {
		return nil, fmt.Errorf("%w: buffers %d/%d of %d bytes", ErrConfig, cfg.OutputBuffers, cfg.CaptureBuffers, cfg.BufferSize)
	}
	dev, err := cfg.Open()
	if err != nil {
		return nil, wrap("open", err)
	}
	dd, ok := dev.(v4l2.DecoderDevice)
	if !ok {
		_ = dev.Close()
		return nil, fmt.Errorf("%w: device has no decoder ioctls", ErrNotDecoder)
	}
	d := &Decoder{cfg: cfg, log: cfg.Logger.With("component", "v4l2m2m"), dev: dd, held: -1}
	if err := d.init(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Decoder) init() error {
	c, _, err := queues(d.dev, ErrNotDecoder, &d.mplane, &d.outType, &d.capType)
	if err != nil {
		return err
	}
	// "Querying Capabilities": the coded format is on OUTPUT.
	ok, err := hasFormat(d.dev, d.outType, d.cfg.CodedFormat)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s OUTPUT has no %s", ErrNotDecoder, c.DriverName(), v4l2.FourccString(d.cfg.CodedFormat))
	}
	// Initialization 1: coded format, placeholder size, sizeimage.
	f := v4l2.Format{Type: d.outType}
	w, h := uint32(d.cfg.Width), uint32(d.cfg.Height)
	if d.mplane {
		p := f.PixMP()
		p.Width, p.Height, p.PixelFormat, p.NumPlanes = w, h, d.cfg.CodedFormat, 1
		p.PlaneFmt[0].SizeImage = uint32(d.cfg.BufferSize)
	} else {
		p := f.Pix()
		p.Width, p.Height, p.PixelFormat, p.SizeImage = w, h, d.cfg.CodedFormat, uint32(d.cfg.BufferSize)
	}
	if err := d.dev.SetFormat(&f); err != nil {
		return wrap("VIDIOC_S_FMT OUTPUT", err)
	}
	if _, _, pix, _, _ := fmtInfo(&f); pix != d.cfg.CodedFormat {
		return fmt.Errorf("%w: OUTPUT got %s", ErrFormat, v4l2.FourccString(pix))
	}
	sub := v4l2.EventSubscription{Type: v4l2.EventSourceChange}
	if err := d.dev.SubscribeEvent(&sub); err != nil {
		return wrap("VIDIOC_SUBSCRIBE_EVENT SOURCE_CHANGE", err)
	}
	// Initialization 2: OUTPUT buffers.
	if d.out, err = mmapBufs(d.dev, d.outType, d.cfg.OutputBuffers); err != nil {
		return err
	}
	for i := len(d.out) - 1; i >= 0; i-- {
		d.freeOut = append(d.freeOut, i)
	}
	// Initialization 3: stream OUTPUT; step 4 happens in Decode.
	if err := d.dev.StreamOn(d.outType); err != nil {
		return wrap("VIDIOC_STREAMON OUTPUT", err)
	}
	d.log.Info("decoder device", "driver", c.DriverName(), "mplane", d.mplane, "coded", v4l2.FourccString(d.cfg.CodedFormat))
	return nil
}

// mmapBufs requests n MMAP buffers on queue t and maps them, for the
// encoder and the decoder. On error it returns the slots mapped so far, for
// the caller to unmap.
func mmapBufs(dev v4l2.Device, t v4l2.BufType, n int) ([]slot, error) {
	r := v4l2.RequestBuffers{Count: uint32(n), Type: t, Memory: v4l2.MemoryMMAP}
	if err := dev.ReqBufs(&r); err != nil {
		return nil, wrap("VIDIOC_REQBUFS "+t.String()+" MMAP", err)
	}
	if r.Count == 0 || r.Count > 64 {
		return nil, fmt.Errorf("v4l2m2m: VIDIOC_REQBUFS %s: driver granted %d buffers", t, r.Count)
	}
	slots := make([]slot, r.Count)
	for i := range slots {
		slots[i].fd = -1
		b := v4l2.Buffer{Index: uint32(i), Type: t, Memory: v4l2.MemoryMMAP}
		if err := dev.QueryBuf(&b, slots[i].planes[:]); err != nil {
			return slots, wrap("VIDIOC_QUERYBUF", err)
		}
		off, length := int64(b.Offset()), int(b.Length)
		if t.MPlane() {
			off, length = int64(slots[i].planes[0].MemOffset()), int(slots[i].planes[0].Length)
		}
		m, err := dev.Mmap(off, length)
		if err != nil {
			return slots, wrap("mmap", err)
		}
		slots[i].mem = m
	}
	return slots, nil
}

func unmapBufs(dev v4l2.Device, t v4l2.BufType, slots []slot) {
	for i := range slots {
		if slots[i].mem != nil {
			_ = dev.Munmap(slots[i].mem)
			slots[i].mem = nil
		}
	}
	if slots != nil {
		_ = dev.ReqBufs(&v4l2.RequestBuffers{Type: t, Memory: v4l2.MemoryMMAP})
	}
}

// Stats returns the counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Decode queues one access unit (for H.264 an Annex B unit; for FWHT one
// compressed frame) and returns the newest decoded picture, if one is
// ready within Config.Wait. The picture is valid until the next call.
func (d *Decoder) Decode(unit []byte) (Picture, bool, error) {
	d.requeueHeld()
	i, err := d.freeOutput()
	if err != nil {
		return Picture{}, false, err
	}
	sl := &d.out[i]
	if len(unit) > len(sl.mem) {
		d.freeOut = append(d.freeOut, i)
		return Picture{}, false, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(unit), len(sl.mem))
	}
	copy(sl.mem, unit)
	d.seq++
	d.qb = v4l2.Buffer{Index: uint32(i), Type: d.outType, Memory: v4l2.MemoryMMAP, BytesUsed: uint32(len(unit)), Field: v4l2.FieldNone}
	d.qb.Timestamp = v4l2.Timeval{Sec: int(d.seq / 1_000_000), Usec: int(d.seq % 1_000_000)}
	sl.planes[0] = v4l2.Plane{BytesUsed: uint32(len(unit)), Length: uint32(len(sl.mem))}
	d.qb.Length = uint32(len(sl.mem))
	if err := d.dev.QBuf(&d.qb, sl.planes[:]); err != nil {
		d.freeOut = append(d.freeOut, i)
		return Picture{}, false, wrap("VIDIOC_QBUF OUTPUT", err)
	}
	sl.queued = true
	d.queuedOut++
	d.stats.Units++
	return d.collect(d.cfg.Wait)
}

// requeueHeld gives the CAPTURE buffer of the last Picture back.
func (d *Decoder) requeueHeld() {
	if d.held >= 0 && d.capStreaming {
		if err := d.queueCapture(d.held); err != nil {
			d.log.Debug("requeue", "err", err)
		}
	}
	d.held = -1
}

// freeOutput returns a free OUTPUT slot, dequeuing spent ones (waiting up
// to Config.Wait when all are with the driver).
func (d *Decoder) freeOutput() (int, error) {
	deadline := time.Now().Add(d.cfg.Wait)
	for len(d.freeOut) == 0 {
		if err := d.dqOutput(); err != nil {
			return 0, err
		}
		if len(d.freeOut) > 0 {
			break
		}
		// Pictures may be what the driver waits on: take them.
		if _, _, err := d.service(); err != nil {
			return 0, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, fmt.Errorf("%w: no OUTPUT buffer back within %v", ErrStalled, d.cfg.Wait)
		}
		if _, err := d.dev.Poll(v4l2.PollOut|v4l2.PollIn|v4l2.PollPri, left); err != nil {
			return 0, wrap("poll", err)
		}
	}
	i := d.freeOut[len(d.freeOut)-1]
	d.freeOut = d.freeOut[:len(d.freeOut)-1]
	return i, nil
}

func (d *Decoder) dqOutput() error {
	for d.queuedOut > 0 {
		d.dq = v4l2.Buffer{Type: d.outType, Memory: v4l2.MemoryMMAP}
		err := d.dev.DQBuf(&d.dq, d.dqPlanes[:])
		if errors.Is(err, errAgain) {
			return nil
		}
		if err != nil {
			return wrap("VIDIOC_DQBUF OUTPUT", err)
		}
		i := int(d.dq.Index)
		if i >= len(d.out) || !d.out[i].queued {
			return fmt.Errorf("v4l2m2m: VIDIOC_DQBUF OUTPUT: unexpected index %d", i)
		}
		d.out[i].queued = false
		d.freeOut = append(d.freeOut, i)
		d.queuedOut--
	}
	return nil
}

// collect services the device until a picture is ready or wait passes.
func (d *Decoder) collect(wait time.Duration) (Picture, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		p, ok, err := d.service()
		if err != nil || ok {
			return p, ok, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return Picture{}, false, nil
		}
		if _, err := d.dev.Poll(v4l2.PollIn|v4l2.PollPri, left); err != nil {
			return Picture{}, false, wrap("poll", err)
		}
	}
}

// service dequeues events, spent OUTPUT buffers and decoded CAPTURE
// buffers; it returns the newest picture among them (older ones go back
// to the driver at once: the screen shows the latest).
func (d *Decoder) service() (Picture, bool, error) {
	if err := d.events(); err != nil {
		return Picture{}, false, err
	}
	if err := d.dqOutput(); err != nil {
		return Picture{}, false, err
	}
	var pic Picture
	got := false
	for d.capStreaming {
		d.dq = v4l2.Buffer{Type: d.capType, Memory: v4l2.MemoryMMAP}
		err := d.dev.DQBuf(&d.dq, d.dqPlanes[:])
		if errors.Is(err, errAgain) {
			break
		}
		if errors.Is(err, errPipe) { // past LAST: same as seeing LAST
			if err := d.afterLast(); err != nil {
				return Picture{}, false, err
			}
			break
		}
		if err != nil {
			return Picture{}, false, wrap("VIDIOC_DQBUF CAPTURE", err)
		}
		i := int(d.dq.Index)
		if i >= len(d.capt) || !d.capt[i].queued {
			return Picture{}, false, fmt.Errorf("v4l2m2m: VIDIOC_DQBUF CAPTURE: unexpected index %d", i)
		}
		d.capt[i].queued = false
		used := int(d.dq.BytesUsed)
		if d.mplane {
			used = int(d.dqPlanes[0].BytesUsed)
		}
		last := d.dq.Flags&v4l2.BufFlagLast != 0
		switch {
		case d.dq.Flags&v4l2.BufFlagError != 0:
			d.stats.Errors++
			_ = d.queueCapture(i)
		case used == 0 || used < d.capLay.bpl*d.capLay.lumaRows*3/2 || used > len(d.capt[i].mem):
			// An empty LAST buffer is ignored (dev-decoder.rst "Drain"); a
			// short one is not a whole picture.
			if used != 0 {
				d.stats.Errors++
			}
			if !last {
				_ = d.queueCapture(i)
			}
		default:
			if got {
				_ = d.queueCapture(d.held) // an older picture: back to the driver
			}
			d.held, got = i, true
			ts := time.Duration(d.dq.Timestamp.Sec)*time.Second + time.Duration(d.dq.Timestamp.Usec)*time.Microsecond
			pic = Picture{Data: d.capt[i].mem[:used], Format: d.capLay.pix,
				Width: d.visW, Height: d.visH, Stride: d.capLay.bpl, LumaRows: d.capLay.lumaRows, Timestamp: ts}
			d.stats.Pictures++
		}
		if last {
			if err := d.afterLast(); err != nil {
				return Picture{}, false, err
			}
			break
		}
	}
	return pic, got, nil
}

// events handles V4L2_EVENT_SOURCE_CHANGE. Before CAPTURE exists this is
// Initialization step 4 and Capture Setup follows at once; while
// streaming it is "Dynamic Resolution Change": the decoder drains the old
// pictures, ending with a LAST buffer, and afterLast runs Capture Setup.
func (d *Decoder) events() error {
	for k := 0; k < 16; k++ {
		var ev v4l2.Event
		err := d.dev.DQEvent(&ev)
		if err != nil {
			if gone(err) {
				return wrap("VIDIOC_DQEVENT", err)
			}
			return nil // ENOENT: no event pending
		}
		if ev.Type != v4l2.EventSourceChange {
			continue
		}
		changes := uint32(ev.U[0]) | uint32(ev.U[1])<<8 | uint32(ev.U[2])<<16 | uint32(ev.U[3])<<24
		if changes&v4l2.EventSrcChResolution == 0 {
			continue
		}
		d.stats.SourceChanges++
		if !d.capStreaming {
			if err := d.captureSetup(); err != nil {
				return err
			}
			continue
		}
		d.changing = true
	}
	return nil
}

// afterLast ends a drain or a resolution change's implicit drain.
func (d *Decoder) afterLast() error {
	if d.changing {
		d.changing = false
		return d.captureSetup()
	}
	if d.draining {
		d.draining = false
	}
	return nil
}

// captureSetup is "Capture Setup": read the CAPTURE format the decoder
// chose (1), the visible rectangle (2, optional), ask for I420 or NV12
// (4), free old buffers (9), allocate and queue new ones (10), and
// STREAMON CAPTURE (11).
func (d *Decoder) captureSetup() error {
	if d.capStreaming {
		_ = d.dev.StreamOff(d.capType)
		d.capStreaming = false
	}
	d.held = -1
	unmapBufs(d.dev, d.capType, d.capt) // step 9
	d.capt = nil
	f := v4l2.Format{Type: d.capType}
	if err := d.dev.GetFormat(&f); err != nil { // step 1
		return wrap("VIDIOC_G_FMT CAPTURE", err)
	}
	w, h, pix, _, _ := fmtInfo(&f)
	if pix != v4l2.PixFmtYUV420 && pix != v4l2.PixFmtNV12 { // step 4
		for _, want := range []uint32{v4l2.PixFmtYUV420, v4l2.PixFmtNV12} {
			g := v4l2.Format{Type: d.capType}
			if d.mplane {
				p := g.PixMP()
				p.Width, p.Height, p.PixelFormat, p.NumPlanes = w, h, want, 1
			} else {
				p := g.Pix()
				p.Width, p.Height, p.PixelFormat = w, h, want
			}
			if err := d.dev.SetFormat(&g); err == nil {
				if _, _, got, _, _ := fmtInfo(&g); got == want {
					f = g
					break
				}
			}
		}
	}
	w, h, pix, bpl, size := fmtInfo(&f)
	if pix != v4l2.PixFmtYUV420 && pix != v4l2.PixFmtNV12 {
		return fmt.Errorf("%w: CAPTURE offers %s only", ErrFormat, v4l2.FourccString(pix))
	}
	if d.mplane && f.PixMP().NumPlanes != 1 {
		return fmt.Errorf("%w: CAPTURE wants %d memory planes", ErrFormat, f.PixMP().NumPlanes)
	}
	if w < 2 || h < 2 || w > 8192 || h > 8192 {
		return fmt.Errorf("%w: CAPTURE %dx%d", ErrFormat, w, h)
	}
	lay, err := newLayout(pix, int(w), int(h), int(bpl), int(size))
	if err != nil {
		return err
	}
	d.capLay, d.visW, d.visH = lay, int(w), int(h)
	sel := v4l2.Selection{Type: d.capType, Target: v4l2.SelTgtCompose} // step 2
	if d.mplane {
		sel.Type = v4l2.BufTypeVideoCapture // selection takes the single-planar type
	}
	if err := d.dev.GetSelection(&sel); err == nil && sel.R.Width > 0 && sel.R.Height > 0 &&
		sel.R.Width <= w && sel.R.Height <= h {
		d.visW, d.visH = int(sel.R.Width), int(sel.R.Height)
	}
	if d.capt, err = mmapBufs(d.dev, d.capType, d.cfg.CaptureBuffers); err != nil { // step 10
		return err
	}
	for i := range d.capt {
		if err := d.queueCapture(i); err != nil {
			return err
		}
	}
	if err := d.dev.StreamOn(d.capType); err != nil { // step 11
		return wrap("VIDIOC_STREAMON CAPTURE", err)
	}
	d.capStreaming = true
	d.log.Info("decoder capture", "format", v4l2.FourccString(pix), "size", fmt.Sprintf("%dx%d", w, h),
		"visible", fmt.Sprintf("%dx%d", d.visW, d.visH), "buffers", len(d.capt))
	return nil
}

func (d *Decoder) queueCapture(i int) error {
	if i < 0 || i >= len(d.capt) {
		return nil
	}
	sl := &d.capt[i]
	d.qb = v4l2.Buffer{Index: uint32(i), Type: d.capType, Memory: v4l2.MemoryMMAP}
	sl.planes[0] = v4l2.Plane{Length: uint32(len(sl.mem))}
	d.qb.Length = uint32(len(sl.mem))
	if err := d.dev.QBuf(&d.qb, sl.planes[:]); err != nil {
		return wrap("VIDIOC_QBUF CAPTURE", err)
	}
	sl.queued = true
	return nil
}

// Drain is dev-decoder.rst "Drain": V4L2_DEC_CMD_STOP, then every picture
// of the units queued so far goes to fn until the LAST buffer, bounded by
// timeout; V4L2_DEC_CMD_START resumes decoding afterwards.
func (d *Decoder) Drain(timeout time.Duration, fn func(Picture)) error {
	d.requeueHeld()
	if !d.capStreaming {
		return nil // nothing decoded yet: nothing to drain
	}
	cmd := v4l2.DecoderCmd{Cmd: v4l2.DecCmdStop}
	if err := d.dev.DecoderCmd(&cmd); err != nil {
		return wrap("VIDIOC_DECODER_CMD STOP", err)
	}
	d.draining = true
	deadline := time.Now().Add(timeout)
	for d.draining {
		p, ok, err := d.service()
		if err != nil {
			return err
		}
		if ok {
			fn(p)
			d.requeueHeld()
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w after %v", ErrDrainTimeout, timeout)
		}
		if _, err := d.dev.Poll(v4l2.PollIn|v4l2.PollPri, left); err != nil {
			return wrap("poll", err)
		}
	}
	cmd = v4l2.DecoderCmd{Cmd: v4l2.DecCmdStart}
	if err := d.dev.DecoderCmd(&cmd); err != nil {
		return wrap("VIDIOC_DECODER_CMD START", err)
	}
	return nil
}

// Close stops both queues, unmaps, frees and closes the node.
func (d *Decoder) Close() error {
	if d.dev == nil {
		return nil
	}
	_ = d.dev.StreamOff(d.outType)
	if d.capStreaming {
		_ = d.dev.StreamOff(d.capType)
	}
	unmapBufs(d.dev, d.outType, d.out)
	unmapBufs(d.dev, d.capType, d.capt)
	err := d.dev.Close()
	d.dev = nil
	return err
}

// FindDecoder scans /dev/video* for a stateful decoder of coded (a
// mem2mem node whose OUTPUT queue takes it, dev-decoder.rst "Querying
// Capabilities"), optionally only from driver, first in path order.
func FindDecoder(coded uint32, driver string) (Info, error) {
	paths, _ := filepath.Glob("/dev/video*")
	sort.Strings(paths)
	for _, p := range paths {
		dev, err := v4l2.Open(p)
		if err != nil {
			continue
		}
		info, err := Probe(dev, 0)
		_ = dev.Close()
		if info.Driver == "" || (driver != "" && info.Driver != driver) || (err != nil && !errors.Is(err, ErrNotEncoder)) {
			continue
		}
		for _, f := range info.Raw { // OUTPUT formats: the coded one for a decoder
			if f == coded && len(info.Coded) > 0 {
				info.Path = p
				return info, nil
			}
		}
	}
	return Info{}, fmt.Errorf("%w: no %s decoder among %d nodes", ErrNotDecoder, v4l2.FourccString(coded), len(paths))
}
