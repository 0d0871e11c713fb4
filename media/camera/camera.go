package camera

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media/v4l2"
)

// DefaultFormats is the pixel format preference: H.264 first (passed
// through, no encode at all), then the raw formats the encoders take
// without conversion, then MJPEG (decoded on the CPU).
var DefaultFormats = []uint32{v4l2.PixFmtH264, v4l2.PixFmtYUV420, v4l2.PixFmtNV12, v4l2.PixFmtYUYV, v4l2.PixFmtMJPEG}

// Config describes the capture.
type Config struct {
	// Path of the node ("/dev/video0"); used by Open when OpenDevice is nil.
	Path string
	// OpenDevice opens the node (default v4l2.Open(Path)); tests pass a
	// fake.
	OpenDevice func() (v4l2.Device, error)
	// Width, Height and FPS asked for; the driver may adjust the size.
	Width, Height, FPS int
	// Formats in order of preference (default DefaultFormats).
	Formats []uint32
	// Buffers to request (default 4).
	Buffers int
	// FrameTimeout: no frame for this long is ErrStalled (default 2 s).
	FrameTimeout time.Duration
	// PollSlice bounds each poll so ctx is noticed (default 100 ms).
	PollSlice time.Duration
	// Clock stamps frames and measures FrameTimeout (default real).
	Clock clockwork.Clock
}

// Frame is one captured picture.
type Frame struct {
	// Data is the packed picture (or an Annex B unit for H.264, a JPEG for
	// MJPEG). It points into a driver buffer, or into the camera's repack
	// buffer when the driver pads rows, and is valid until the next
	// ReadFrame.
	Data          []byte
	Format        uint32
	Width, Height int
	Time          time.Time
	Sequence      uint32
}

// Camera is one open, streaming capture device. It is used from one
// goroutine (the pipeline's video goroutine).
type Camera struct {
	cfg     Config
	dev     v4l2.Device
	pix     uint32
	w, h    int
	bpl     int // bytes per line the driver uses
	bufs    [][]byte
	held    int    // index of the buffer handed out by the last ReadFrame, -1 if none
	repack  []byte // packed copy when the driver pads rows
	closed  bool
	lastGot time.Time
	// qb and dqb are reused for QBUF and DQBUF: a Buffer passed through the
	// Device interface escapes, and a fresh one per frame would allocate.
	qb, dqb v4l2.Buffer
}

// Open opens and configures the device and starts streaming.
func Open(cfg Config) (*Camera, error) {
	if err := setDefaults(&cfg); err != nil {
		return nil, err
	}
	dev, err := cfg.OpenDevice()
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || gone(err) || errors.Is(err, v4l2.ErrUnsupported) {
			return nil, fmt.Errorf("camera: open %s: %w (%w)", cfg.Path, ErrNoDevice, err)
		}
		return nil, fmt.Errorf("camera: open %s: %w", cfg.Path, err)
	}
	c := &Camera{cfg: cfg, dev: dev, held: -1}
	if err := c.setup(); err != nil {
		c.teardown()
		return nil, err
	}
	return c, nil
}

func setDefaults(cfg *Config) error {
	if cfg.OpenDevice == nil {
		if cfg.Path == "" {
			return fmt.Errorf("%w: no Path", ErrConfig)
		}
		path := cfg.Path
		cfg.OpenDevice = func() (v4l2.Device, error) { return v4l2.Open(path) }
	}
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = 1280, 720
	}
	if cfg.FPS == 0 {
		cfg.FPS = 30
	}
	if len(cfg.Formats) == 0 {
		cfg.Formats = DefaultFormats
	}
	if cfg.Buffers == 0 {
		cfg.Buffers = 4
	}
	if cfg.FrameTimeout == 0 {
		cfg.FrameTimeout = 2 * time.Second
	}
	if cfg.PollSlice == 0 {
		cfg.PollSlice = 100 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.FPS <= 0 || cfg.Buffers < 2 || cfg.Buffers > 32 {
		return fmt.Errorf("%w: %dx%d@%d, %d buffers", ErrConfig, cfg.Width, cfg.Height, cfg.FPS, cfg.Buffers)
	}
	return nil
}

func (c *Camera) setup() error {
	var capb v4l2.Capability
	if err := c.dev.QueryCap(&capb); err != nil {
		return wrap("VIDIOC_QUERYCAP", err)
	}
	if caps := capb.Caps(); caps&v4l2.CapVideoCapture == 0 || caps&v4l2.CapStreaming == 0 {
		return fmt.Errorf("%w: %s (%s) caps %#x", ErrNotCapture, capb.DriverName(), capb.CardName(), caps)
	}
	offered := map[uint32]bool{}
	for i := uint32(0); i < 64; i++ {
		d := v4l2.FmtDesc{Index: i, Type: v4l2.BufTypeVideoCapture}
		if err := c.dev.EnumFmt(&d); err != nil {
			if gone(err) {
				return wrap("VIDIOC_ENUM_FMT", err)
			}
			break
		}
		offered[d.PixelFormat] = true
	}
	for _, p := range c.cfg.Formats {
		if offered[p] {
			c.pix = p
			break
		}
	}
	if c.pix == 0 {
		return fmt.Errorf("%w: the device offers %d formats, none wanted", ErrFormat, len(offered))
	}
	f := v4l2.Format{Type: v4l2.BufTypeVideoCapture}
	pf := f.Pix()
	pf.Width, pf.Height, pf.PixelFormat, pf.Field = uint32(c.cfg.Width), uint32(c.cfg.Height), c.pix, v4l2.FieldNone
	if err := c.dev.SetFormat(&f); err != nil {
		return wrap("VIDIOC_S_FMT", err)
	}
	if pf.PixelFormat != c.pix {
		return fmt.Errorf("%w: asked %s, driver set %s", ErrFormat, v4l2.FourccString(c.pix), v4l2.FourccString(pf.PixelFormat))
	}
	c.w, c.h, c.bpl = int(pf.Width), int(pf.Height), int(pf.BytesPerLine)
	if c.w%2 != 0 || c.h%2 != 0 || c.w == 0 || c.h == 0 {
		return fmt.Errorf("%w: odd size %dx%d", ErrFormat, c.w, c.h)
	}
	if min := minBPL(c.pix, c.w); min > 0 && c.bpl < min {
		c.bpl = min // drivers may leave bytesperline 0 for packed formats
	}
	// Frame interval: v4l2_captureparm has v4l2_outputparm's layout. A
	// driver without S_PARM (some UVC) keeps its default rate.
	parm := v4l2.StreamParm{Type: v4l2.BufTypeVideoCapture}
	parm.Output().TimePerFrame = v4l2.Fract{Numerator: 1, Denominator: uint32(c.cfg.FPS)}
	if err := c.dev.SetParm(&parm); err != nil && gone(err) {
		return wrap("VIDIOC_S_PARM", err)
	}
	rb := v4l2.RequestBuffers{Count: uint32(c.cfg.Buffers), Type: v4l2.BufTypeVideoCapture, Memory: v4l2.MemoryMMAP}
	if err := c.dev.ReqBufs(&rb); err != nil {
		return wrap("VIDIOC_REQBUFS", err)
	}
	if rb.Count < 2 {
		return fmt.Errorf("%w: driver gave %d buffers", ErrFormat, rb.Count)
	}
	for i := uint32(0); i < rb.Count; i++ {
		b := v4l2.Buffer{Index: i, Type: v4l2.BufTypeVideoCapture, Memory: v4l2.MemoryMMAP}
		if err := c.dev.QueryBuf(&b, nil); err != nil {
			return wrap("VIDIOC_QUERYBUF", err)
		}
		m, err := c.dev.Mmap(int64(b.Offset()), int(b.Length))
		if err != nil {
			return wrap("mmap", err)
		}
		c.bufs = append(c.bufs, m)
	}
	for i := range c.bufs {
		if err := c.queue(i); err != nil {
			return err
		}
	}
	if err := c.dev.StreamOn(v4l2.BufTypeVideoCapture); err != nil {
		return wrap("VIDIOC_STREAMON", err)
	}
	c.lastGot = c.cfg.Clock.Now()
	return nil
}

// minBPL is the packed bytes per line of the first plane, 0 for
// compressed formats.
func minBPL(pix uint32, w int) int {
	switch pix {
	case v4l2.PixFmtYUYV:
		return 2 * w
	case v4l2.PixFmtNV12, v4l2.PixFmtYUV420:
		return w
	}
	return 0
}

func (c *Camera) queue(i int) error {
	c.qb = v4l2.Buffer{Index: uint32(i), Type: v4l2.BufTypeVideoCapture, Memory: v4l2.MemoryMMAP}
	if err := c.dev.QBuf(&c.qb, nil); err != nil {
		return wrap("VIDIOC_QBUF", err)
	}
	return nil
}

// Format returns the negotiated pixel format and size.
func (c *Camera) Format() (pix uint32, w, h int) { return c.pix, c.w, c.h }

// ReadFrame waits for the next frame. The previous frame's buffer goes
// back to the driver first, so Data is valid until the next call. In steady
// state it does not allocate.
func (c *Camera) ReadFrame(ctx context.Context) (Frame, error) {
	if c.closed {
		return Frame{}, ErrClosed
	}
	if c.held >= 0 {
		i := c.held
		c.held = -1
		if err := c.queue(i); err != nil {
			return Frame{}, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		c.dqb = v4l2.Buffer{Type: v4l2.BufTypeVideoCapture, Memory: v4l2.MemoryMMAP}
		b := &c.dqb
		err := c.dev.DQBuf(b, nil)
		switch {
		case err == nil:
			now := c.cfg.Clock.Now()
			c.lastGot = now
			if b.Flags&v4l2.BufFlagError != 0 || int(b.Index) >= len(c.bufs) {
				// A corrupt frame: give the buffer back and wait for the next.
				if int(b.Index) < len(c.bufs) {
					if err := c.queue(int(b.Index)); err != nil {
						return Frame{}, err
					}
				}
				continue
			}
			data, err := c.frameData(c.bufs[b.Index], int(b.BytesUsed))
			if err != nil {
				if qerr := c.queue(int(b.Index)); qerr != nil {
					return Frame{}, qerr
				}
				return Frame{}, err
			}
			c.held = int(b.Index)
			return Frame{Data: data, Format: c.pix, Width: c.w, Height: c.h, Time: now, Sequence: b.Sequence}, nil
		case errors.Is(err, syscall.EAGAIN):
		default:
			return Frame{}, wrap("VIDIOC_DQBUF", err)
		}
		if c.cfg.Clock.Since(c.lastGot) > c.cfg.FrameTimeout {
			return Frame{}, fmt.Errorf("%w for %v", ErrStalled, c.cfg.FrameTimeout)
		}
		rev, err := c.dev.Poll(v4l2.PollIn, c.cfg.PollSlice)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return Frame{}, wrap("poll", err)
		}
		if rev&(v4l2.PollErr|v4l2.PollHup) != 0 && rev&v4l2.PollIn == 0 {
			return Frame{}, fmt.Errorf("camera: poll: %w (revents %#x)", ErrGone, rev)
		}
	}
}

// frameData returns the packed picture: the driver buffer itself when rows
// are packed, else a copy without the padding.
func (c *Camera) frameData(buf []byte, used int) ([]byte, error) {
	if used <= 0 || used > len(buf) {
		used = len(buf)
	}
	row := minBPL(c.pix, c.w)
	if row == 0 { // compressed: the payload as is
		return buf[:used], nil
	}
	packed := packedSize(c.pix, c.w, c.h)
	if c.bpl == row {
		if used < packed {
			return nil, fmt.Errorf("%w: short frame, %d of %d bytes", ErrFormat, used, packed)
		}
		return buf[:packed], nil
	}
	// Padded rows: the chroma planes of YU12 and NV12 follow the luma with
	// the same (halved for YU12) padding, as videodev2's pixfmt docs lay
	// out.
	if cap(c.repack) < packed {
		c.repack = make([]byte, packed)
	}
	dst := c.repack[:packed]
	type plane struct{ rows, rowBytes, stride int }
	var planes []plane
	switch c.pix {
	case v4l2.PixFmtYUYV:
		planes = []plane{{c.h, 2 * c.w, c.bpl}}
	case v4l2.PixFmtNV12:
		planes = []plane{{c.h, c.w, c.bpl}, {c.h / 2, c.w, c.bpl}}
	case v4l2.PixFmtYUV420:
		planes = []plane{{c.h, c.w, c.bpl}, {c.h / 2, c.w / 2, c.bpl / 2}, {c.h / 2, c.w / 2, c.bpl / 2}}
	}
	var need int
	for _, p := range planes {
		need += p.rows * p.stride
	}
	if used < need-(planes[len(planes)-1].stride-planes[len(planes)-1].rowBytes) {
		return nil, fmt.Errorf("%w: short padded frame, %d of %d bytes", ErrFormat, used, need)
	}
	si, di := 0, 0
	for _, p := range planes {
		for r := 0; r < p.rows; r++ {
			copy(dst[di:di+p.rowBytes], buf[si+r*p.stride:])
			di += p.rowBytes
		}
		si += p.rows * p.stride
	}
	return dst, nil
}

func packedSize(pix uint32, w, h int) int {
	switch pix {
	case v4l2.PixFmtYUYV:
		return 2 * w * h
	case v4l2.PixFmtNV12, v4l2.PixFmtYUV420:
		return w * h * 3 / 2
	}
	return 0
}

// Close stops streaming, unmaps the buffers and closes the device.
func (c *Camera) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.teardown()
}

func (c *Camera) teardown() error {
	// Every step is tried: after an unplug most of them fail with ENODEV.
	_ = c.dev.StreamOff(v4l2.BufTypeVideoCapture)
	for _, m := range c.bufs {
		_ = c.dev.Munmap(m)
	}
	c.bufs = nil
	rb := v4l2.RequestBuffers{Type: v4l2.BufTypeVideoCapture, Memory: v4l2.MemoryMMAP}
	_ = c.dev.ReqBufs(&rb)
	return c.dev.Close()
}
