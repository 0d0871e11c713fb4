package camera

import (
	"sync"
	"syscall"
	"time"

	"tether/media/v4l2"
)

// fakeCap is an in-memory single-planar capture device: Produce makes the
// "sensor" deliver frames into queued buffers; Vanish unplugs it.
type fakeCap struct {
	mu        sync.Mutex
	caps      uint32
	formats   []uint32
	pix       uint32
	w, h, bpl int
	padBPL    int // extra bytes per line the driver adds
	bufs      [][]byte
	queued    []int
	streaming bool
	pending   int
	gone      bool
	closed    bool
	mapped    int
	seq       uint32
	kick      chan struct{}
}

func newFakeCap(formats ...uint32) *fakeCap {
	return &fakeCap{caps: v4l2.CapVideoCapture | v4l2.CapStreaming, formats: formats, kick: make(chan struct{}, 1)}
}

func (f *fakeCap) Produce(n int) {
	f.mu.Lock()
	f.pending += n
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *fakeCap) Vanish() {
	f.mu.Lock()
	f.gone = true
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *fakeCap) err() error {
	if f.gone {
		return syscall.ENODEV
	}
	return nil
}

func (f *fakeCap) QueryCap(c *v4l2.Capability) error {
	copy(c.Driver[:], "fakecap")
	c.Capabilities = f.caps | v4l2.CapDeviceCaps
	c.DeviceCaps = f.caps
	return nil
}

func (f *fakeCap) EnumFmt(d *v4l2.FmtDesc) error {
	if int(d.Index) >= len(f.formats) {
		return syscall.EINVAL
	}
	d.PixelFormat = f.formats[d.Index]
	return nil
}

func (f *fakeCap) SetFormat(x *v4l2.Format) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return err
	}
	p := x.Pix()
	// Like vivid: the size is clamped to a 16-pixel grid.
	p.Width, p.Height = p.Width&^15, p.Height&^15
	f.pix, f.w, f.h = p.PixelFormat, int(p.Width), int(p.Height)
	f.bpl = minBPL(f.pix, f.w)
	if f.bpl > 0 {
		f.bpl += f.padBPL
	}
	p.BytesPerLine = uint32(f.bpl)
	p.SizeImage = uint32(f.sizeImage())
	return nil
}

func (f *fakeCap) sizeImage() int {
	switch f.pix {
	case v4l2.PixFmtYUYV:
		return f.bpl * f.h
	case v4l2.PixFmtNV12:
		return f.bpl * f.h * 3 / 2
	case v4l2.PixFmtYUV420:
		return f.bpl*f.h + 2*(f.bpl/2)*(f.h/2)
	}
	return f.w * f.h // compressed: a generous bound
}

func (f *fakeCap) SetParm(p *v4l2.StreamParm) error { return nil }

func (f *fakeCap) ReqBufs(r *v4l2.RequestBuffers) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Count == 0 {
		f.bufs, f.queued = nil, nil
		return f.err()
	}
	f.bufs = make([][]byte, r.Count)
	for i := range f.bufs {
		f.bufs[i] = make([]byte, f.sizeImage())
	}
	return nil
}

func (f *fakeCap) QueryBuf(b *v4l2.Buffer, _ []v4l2.Plane) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if int(b.Index) >= len(f.bufs) {
		return syscall.EINVAL
	}
	b.M = uintptr(b.Index) << 12
	b.Length = uint32(len(f.bufs[b.Index]))
	return nil
}

func (f *fakeCap) Mmap(off int64, length int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mapped++
	return f.bufs[off>>12][:length], nil
}

func (f *fakeCap) Munmap([]byte) error {
	f.mu.Lock()
	f.mapped--
	f.mu.Unlock()
	return nil
}

func (f *fakeCap) QBuf(b *v4l2.Buffer, _ []v4l2.Plane) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return err
	}
	for _, q := range f.queued {
		if q == int(b.Index) {
			return syscall.EINVAL
		}
	}
	f.queued = append(f.queued, int(b.Index))
	return nil
}

func (f *fakeCap) DQBuf(b *v4l2.Buffer, _ []v4l2.Plane) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err(); err != nil {
		return err
	}
	if !f.streaming {
		return syscall.EINVAL
	}
	if f.pending == 0 || len(f.queued) == 0 {
		return syscall.EAGAIN
	}
	i := f.queued[0]
	f.queued = f.queued[1:]
	f.pending--
	f.seq++
	buf := f.bufs[i]
	for k := range buf {
		buf[k] = byte(f.seq)
	}
	b.Index, b.Sequence = uint32(i), f.seq
	b.BytesUsed = uint32(len(buf))
	if minBPL(f.pix, f.w) == 0 {
		b.BytesUsed = 1000 + f.seq // a compressed unit
	}
	return nil
}

func (f *fakeCap) StreamOn(v4l2.BufType) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streaming = true
	return f.err()
}

func (f *fakeCap) StreamOff(v4l2.BufType) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streaming = false
	f.queued = nil
	return f.err()
}

func (f *fakeCap) Poll(events int16, timeout time.Duration) (int16, error) {
	f.mu.Lock()
	if f.gone {
		f.mu.Unlock()
		return v4l2.PollErr | v4l2.PollHup, nil
	}
	ready := f.pending > 0 && len(f.queued) > 0
	f.mu.Unlock()
	if ready {
		return v4l2.PollIn, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-f.kick:
	case <-t.C:
	}
	return 0, nil
}

func (f *fakeCap) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeCap) queuedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queued)
}

// Unused ioctls.
func (f *fakeCap) EnumFrameSizes(*v4l2.FrmSizeEnum) error                 { return syscall.ENOTTY }
func (f *fakeCap) GetFormat(*v4l2.Format) error                           { return syscall.ENOTTY }
func (f *fakeCap) TryFormat(*v4l2.Format) error                           { return syscall.ENOTTY }
func (f *fakeCap) ExpBuf(*v4l2.ExportBuffer) error                        { return syscall.ENOTTY }
func (f *fakeCap) QueryCtrl(*v4l2.QueryCtrl) error                        { return syscall.ENOTTY }
func (f *fakeCap) SetControl(*v4l2.Control) error                         { return syscall.ENOTTY }
func (f *fakeCap) SetControls(*v4l2.ExtControls, []v4l2.ExtControl) error { return syscall.ENOTTY }
func (f *fakeCap) EncoderCmd(*v4l2.EncoderCmd) error                      { return syscall.ENOTTY }
func (f *fakeCap) TryEncoderCmd(*v4l2.EncoderCmd) error                   { return syscall.ENOTTY }
func (f *fakeCap) SubscribeEvent(*v4l2.EventSubscription) error           { return syscall.ENOTTY }
func (f *fakeCap) DQEvent(*v4l2.Event) error                              { return syscall.ENOTTY }

var _ v4l2.Device = (*fakeCap)(nil)
