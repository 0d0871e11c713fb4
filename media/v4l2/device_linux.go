//go:build linux && (amd64 || arm64 || arm)

package v4l2

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// file is the real Device: an open /dev/videoN.
type file struct {
	fd  int
	pfd [1]unix.PollFd // owned by the goroutine calling Poll
}

// Open opens a V4L2 node read-write and non-blocking (so DQBUF returns EAGAIN
// instead of sleeping; readiness comes from Poll). It returns the Device
// interface rather than a concrete type because builds for other systems
// have nothing concrete to return (device_other.go).
func Open(path string) (Device, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &file{fd: fd}, nil
	}
}

// ioctl retries on EINTR and returns the bare errno.
func (f *file) ioctl(req uint32, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(f.fd), uintptr(req), uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func (f *file) QueryCap(c *Capability) error { return f.ioctl(VIDIOC_QUERYCAP, unsafe.Pointer(c)) }
func (f *file) EnumFmt(d *FmtDesc) error     { return f.ioctl(VIDIOC_ENUM_FMT, unsafe.Pointer(d)) }
func (f *file) EnumFrameSizes(s *FrmSizeEnum) error {
	return f.ioctl(VIDIOC_ENUM_FRAMESIZES, unsafe.Pointer(s))
}
func (f *file) GetFormat(x *Format) error       { return f.ioctl(VIDIOC_G_FMT, unsafe.Pointer(x)) }
func (f *file) SetFormat(x *Format) error       { return f.ioctl(VIDIOC_S_FMT, unsafe.Pointer(x)) }
func (f *file) TryFormat(x *Format) error       { return f.ioctl(VIDIOC_TRY_FMT, unsafe.Pointer(x)) }
func (f *file) SetParm(p *StreamParm) error     { return f.ioctl(VIDIOC_S_PARM, unsafe.Pointer(p)) }
func (f *file) ReqBufs(r *RequestBuffers) error { return f.ioctl(VIDIOC_REQBUFS, unsafe.Pointer(r)) }
func (f *file) ExpBuf(e *ExportBuffer) error    { return f.ioctl(VIDIOC_EXPBUF, unsafe.Pointer(e)) }
func (f *file) QueryCtrl(q *QueryCtrl) error    { return f.ioctl(VIDIOC_QUERYCTRL, unsafe.Pointer(q)) }
func (f *file) SetControl(c *Control) error     { return f.ioctl(VIDIOC_S_CTRL, unsafe.Pointer(c)) }
func (f *file) EncoderCmd(c *EncoderCmd) error  { return f.ioctl(VIDIOC_ENCODER_CMD, unsafe.Pointer(c)) }
func (f *file) DQEvent(e *Event) error          { return f.ioctl(VIDIOC_DQEVENT, unsafe.Pointer(e)) }
func (f *file) TryEncoderCmd(c *EncoderCmd) error {
	return f.ioctl(VIDIOC_TRY_ENCODER_CMD, unsafe.Pointer(c))
}
func (f *file) SubscribeEvent(s *EventSubscription) error {
	return f.ioctl(VIDIOC_SUBSCRIBE_EVENT, unsafe.Pointer(s))
}

func (f *file) StreamOn(t BufType) error  { return f.ioctl(VIDIOC_STREAMON, unsafe.Pointer(&t)) }
func (f *file) StreamOff(t BufType) error { return f.ioctl(VIDIOC_STREAMOFF, unsafe.Pointer(&t)) }

// bufIoctl points b.M at planes for the multi-planar API. The planes array
// must stay reachable and unmoved during the call: it is a heap or caller
// object kept alive below, and Go's heap does not move objects.
func (f *file) bufIoctl(req uint32, b *Buffer, planes []Plane) error {
	mp := b.Type.MPlane()
	if mp {
		if len(planes) == 0 {
			return syscall.EINVAL
		}
		b.M = uintptr(unsafe.Pointer(&planes[0]))
		b.Length = uint32(len(planes))
	}
	err := f.ioctl(req, unsafe.Pointer(b))
	runtime.KeepAlive(planes)
	if mp {
		b.M = 0 // do not leave a Go pointer in a uintptr
	}
	return err
}

func (f *file) QueryBuf(b *Buffer, p []Plane) error { return f.bufIoctl(VIDIOC_QUERYBUF, b, p) }
func (f *file) QBuf(b *Buffer, p []Plane) error     { return f.bufIoctl(VIDIOC_QBUF, b, p) }
func (f *file) DQBuf(b *Buffer, p []Plane) error    { return f.bufIoctl(VIDIOC_DQBUF, b, p) }

func (f *file) SetControls(c *ExtControls, ctrls []ExtControl) error {
	if len(ctrls) == 0 {
		return nil
	}
	c.Controls = uintptr(unsafe.Pointer(&ctrls[0]))
	c.Count = uint32(len(ctrls))
	err := f.ioctl(VIDIOC_S_EXT_CTRLS, unsafe.Pointer(c))
	runtime.KeepAlive(ctrls)
	c.Controls = 0
	return err
}

func (f *file) Mmap(offset int64, length int) ([]byte, error) {
	return unix.Mmap(f.fd, offset, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func (f *file) Munmap(b []byte) error { return unix.Munmap(b) }

// Poll waits with poll(2). An EINTR counts as a timeout: callers loop anyway.
func (f *file) Poll(events int16, timeout time.Duration) (int16, error) {
	f.pfd[0] = unix.PollFd{Fd: int32(f.fd), Events: events}
	ms := max(int(timeout/time.Millisecond), 1) // never 0 (busy) nor negative (forever)
	n, err := unix.Poll(f.pfd[:], ms)
	if err == unix.EINTR || n == 0 {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return f.pfd[0].Revents, nil
}

func (f *file) Close() error {
	if f.fd < 0 {
		return syscall.EBADF
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

func (f *file) DecoderCmd(c *DecoderCmd) error { return f.ioctl(VIDIOC_DECODER_CMD, unsafe.Pointer(c)) }
func (f *file) GetSelection(s *Selection) error {
	return f.ioctl(VIDIOC_G_SELECTION, unsafe.Pointer(s))
}
