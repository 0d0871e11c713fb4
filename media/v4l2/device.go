package v4l2

import (
	"errors"
	"time"
)

// Device is the ioctl-level handle on one V4L2 video node. Each method is
// one ioctl (or mmap/poll/close) with the kernel's semantics; errors are the
// bare syscall.Errno the kernel returned (EAGAIN, EINVAL, EPIPE, ENODEV...),
// so hot paths do not allocate and callers test them with errors.Is.
//
// Buffer methods take the multi-planar planes array separately: with an
// _MPLANE buffer type the implementation points Buffer.M at planes and sets
// Buffer.Length to len(planes) for the duration of the call.
//
// A Device is not safe for concurrent use, except that Poll may run on one
// goroutine while another issues ioctls; Close must not race with either.
type Device interface {
	QueryCap(c *Capability) error
	EnumFmt(d *FmtDesc) error
	EnumFrameSizes(s *FrmSizeEnum) error
	GetFormat(f *Format) error
	SetFormat(f *Format) error
	TryFormat(f *Format) error
	SetParm(p *StreamParm) error
	ReqBufs(r *RequestBuffers) error
	QueryBuf(b *Buffer, planes []Plane) error
	QBuf(b *Buffer, planes []Plane) error
	DQBuf(b *Buffer, planes []Plane) error
	ExpBuf(e *ExportBuffer) error
	StreamOn(t BufType) error
	StreamOff(t BufType) error
	QueryCtrl(q *QueryCtrl) error
	SetControl(c *Control) error
	// SetControls is VIDIOC_S_EXT_CTRLS: it points c.Controls at ctrls and
	// sets c.Count; on failure the kernel reports the culprit in c.ErrorIdx.
	SetControls(c *ExtControls, ctrls []ExtControl) error
	EncoderCmd(c *EncoderCmd) error
	TryEncoderCmd(c *EncoderCmd) error
	SubscribeEvent(s *EventSubscription) error
	DQEvent(e *Event) error
	// Mmap maps length bytes at the buffer offset reported by QueryBuf.
	Mmap(offset int64, length int) ([]byte, error)
	Munmap(b []byte) error
	// Poll waits up to timeout for any of events (PollIn|PollOut|PollPri) and
	// returns the ready set; 0 with a nil error means the timeout passed.
	Poll(events int16, timeout time.Duration) (int16, error)
	Close() error
}

// Poll event bits (<poll.h>; the same numbers on every Linux GOARCH). For a
// mem2mem node PollIn means a CAPTURE buffer can be dequeued, PollOut an
// OUTPUT buffer, PollPri an event.
const (
	PollIn  int16 = 0x1
	PollPri int16 = 0x2
	PollOut int16 = 0x4
	PollErr int16 = 0x8
	PollHup int16 = 0x10
)

// ErrUnsupported is returned by Open on builds without V4L2 support.
var ErrUnsupported = errors.New("v4l2: compiled without V4L2 support (linux on amd64, arm64 or arm only)")
