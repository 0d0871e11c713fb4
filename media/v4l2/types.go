package v4l2

import "unsafe"

// The Go mirrors of the videodev2.h structs (include/uapi/linux/videodev2.h).
// Field order, types and explicit padding follow the C layout on amd64, arm64
// and arm EABI; abi_golden_test.go checks every size and the offsets that
// padding could shift. Unions are byte arrays (or uintptr when they hold a
// pointer) with accessor methods.

// Timeval is the userspace struct timeval inside struct v4l2_buffer: two C
// longs, which Go's int matches on every Linux GOARCH we ship.
//
// On 32-bit arm this is the classic 8-byte timeval (2x int32), not the
// time64 one glibc gives C programs built with -D_TIME_BITS=64. Both work:
// since Linux 5.6 the kernel accepts the old layout under its own ioctl
// numbers (VIDIOC_QBUF_TIME32 and friends in drivers/media/v4l2-core/
// v4l2-ioctl.c on 32-bit kernels, v4l2_buffer32_time32 in
// v4l2-compat-ioctl32.c on arm64 kernels running 32-bit userspace, both under
// CONFIG_COMPAT_32BIT_TIME, which defaults to y), and kernels before 5.6 know
// only the old layout (struct v4l2_buffer is 68 bytes and VIDIOC_QBUF is
// 0xc044560f; the time64 layout would be 80 bytes, 0xc050560f — the golden
// generator prints both). Go's own syscall ABI on arm is time32 as well. In a
// mem2mem encoder the timestamp is a cookie copied from the OUTPUT buffer to
// the CAPTURE buffer (V4L2_BUF_FLAG_TIMESTAMP_COPY), so the 2038 limit of a
// 32-bit tv_sec does not matter as long as callers use a monotonic origin.
type Timeval struct {
	Sec  int
	Usec int
}

// Timespec is the userspace struct timespec inside struct v4l2_event (same
// 32-bit time choice as Timeval).
type Timespec struct {
	Sec  int
	Nsec int
}

// Capability is struct v4l2_capability (VIDIOC_QUERYCAP).
type Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

// Caps returns the capabilities of the opened node: device_caps when the
// driver fills it (V4L2_CAP_DEVICE_CAPS), else the whole device's.
func (c *Capability) Caps() uint32 {
	if c.Capabilities&CapDeviceCaps != 0 {
		return c.DeviceCaps
	}
	return c.Capabilities
}

// DriverName returns Driver as a string.
func (c *Capability) DriverName() string { return cstr(c.Driver[:]) }

// CardName returns Card as a string.
func (c *Capability) CardName() string { return cstr(c.Card[:]) }

// FmtDesc is struct v4l2_fmtdesc (VIDIOC_ENUM_FMT).
type FmtDesc struct {
	Index       uint32
	Type        BufType
	Flags       uint32
	Description [32]byte
	PixelFormat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

// PixFormat is struct v4l2_pix_format (single-planar API).
type PixFormat struct {
	Width        uint32
	Height       uint32
	PixelFormat  uint32
	Field        uint32
	BytesPerLine uint32
	SizeImage    uint32
	Colorspace   uint32
	Priv         uint32
	Flags        uint32
	YCbCrEnc     uint32
	Quantization uint32
	XferFunc     uint32
}

// PlanePixFormat is struct v4l2_plane_pix_format (packed in C; naturally
// aligned anyway).
type PlanePixFormat struct {
	SizeImage    uint32
	BytesPerLine uint32
	Reserved     [6]uint16
}

// MaxPlanes is VIDEO_MAX_PLANES.
const MaxPlanes = 8

// PixFormatMPlane is struct v4l2_pix_format_mplane (multi-planar API).
type PixFormatMPlane struct {
	Width        uint32
	Height       uint32
	PixelFormat  uint32
	Field        uint32
	Colorspace   uint32
	PlaneFmt     [MaxPlanes]PlanePixFormat
	NumPlanes    uint8
	Flags        uint8
	YCbCrEnc     uint8
	Quantization uint8
	XferFunc     uint8
	Reserved     [7]uint8
}

// Format is struct v4l2_format (VIDIOC_G/S/TRY_FMT). The C union fmt holds
// struct v4l2_window, which has pointers, so it is pointer-aligned: 4 bytes of
// padding after Type on 64-bit, none on arm. The zero-length uintptr array
// reproduces that alignment.
type Format struct {
	Type BufType
	fmt  formatUnion
}

type formatUnion struct {
	_   [0]uintptr
	raw [200]byte
}

// Pix returns the single-planar view of the format union.
func (f *Format) Pix() *PixFormat { return (*PixFormat)(unsafe.Pointer(&f.fmt.raw)) }

// PixMP returns the multi-planar view of the format union.
func (f *Format) PixMP() *PixFormatMPlane { return (*PixFormatMPlane)(unsafe.Pointer(&f.fmt.raw)) }

// RequestBuffers is struct v4l2_requestbuffers (VIDIOC_REQBUFS).
type RequestBuffers struct {
	Count        uint32
	Type         BufType
	Memory       Memory
	Capabilities uint32
	Flags        uint8
	Reserved     [3]uint8
}

// Timecode is struct v4l2_timecode.
type Timecode struct {
	Type     uint32
	Flags    uint32
	Frames   uint8
	Seconds  uint8
	Minutes  uint8
	Hours    uint8
	UserBits [4]uint8
}

// Plane is struct v4l2_plane. M is the union {mem_offset, userptr, fd}:
// mem_offset and fd live in its low 32 bits (little-endian on every GOARCH
// we ship).
type Plane struct {
	BytesUsed  uint32
	Length     uint32
	M          uintptr
	DataOffset uint32
	Reserved   [11]uint32
}

// MemOffset returns m.mem_offset (MMAP).
func (p *Plane) MemOffset() uint32 { return uint32(p.M) }

// FD returns m.fd (DMABUF).
func (p *Plane) FD() int32 { return int32(uint32(p.M)) }

// SetFD sets m.fd (DMABUF).
func (p *Plane) SetFD(fd int) { p.M = uintptr(uint32(int32(fd))) }

// Buffer is struct v4l2_buffer (VIDIOC_QUERYBUF, QBUF, DQBUF).
//
// M is the union {offset, userptr, planes, fd}. With a multi-planar buffer
// type it holds a pointer to a []Plane array of Length elements; Device
// implementations take the planes as a separate slice and fill M and Length
// themselves right before the ioctl, so callers never store Go pointers in a
// uintptr.
type Buffer struct {
	Index     uint32
	Type      BufType
	BytesUsed uint32
	Flags     uint32
	Field     uint32
	Timestamp Timeval
	Timecode  Timecode
	Sequence  uint32
	Memory    Memory
	M         uintptr
	Length    uint32
	Reserved2 uint32
	RequestFD int32
}

// Offset returns m.offset (single-planar MMAP).
func (b *Buffer) Offset() uint32 { return uint32(b.M) }

// FD returns m.fd (single-planar DMABUF).
func (b *Buffer) FD() int32 { return int32(uint32(b.M)) }

// SetFD sets m.fd (single-planar DMABUF).
func (b *Buffer) SetFD(fd int) { b.M = uintptr(uint32(int32(fd))) }

// ExportBuffer is struct v4l2_exportbuffer (VIDIOC_EXPBUF).
type ExportBuffer struct {
	Type     BufType
	Index    uint32
	Plane    uint32
	Flags    uint32
	FD       int32
	Reserved [11]uint32
}

// Fract is struct v4l2_fract.
type Fract struct {
	Numerator   uint32
	Denominator uint32
}

// OutputParm is struct v4l2_outputparm; CaptureParm has the same layout with
// readbuffers in place of writebuffers.
type OutputParm struct {
	Capability   uint32
	OutputMode   uint32
	TimePerFrame Fract
	ExtendedMode uint32
	WriteBuffers uint32
	Reserved     [4]uint32
}

// StreamParm is struct v4l2_streamparm (VIDIOC_G/S_PARM). For a mem2mem
// encoder the frame interval is set on the OUTPUT queue (the stateful encoder
// interface, "Encoding parameters").
type StreamParm struct {
	Type BufType
	raw  [200]byte
}

// Output returns the output (and, by identical layout, capture) view of the
// parm union.
func (p *StreamParm) Output() *OutputParm { return (*OutputParm)(unsafe.Pointer(&p.raw)) }

// Control is struct v4l2_control (VIDIOC_G/S_CTRL).
type Control struct {
	ID    uint32
	Value int32
}

// QueryCtrl is struct v4l2_queryctrl (VIDIOC_QUERYCTRL).
type QueryCtrl struct {
	ID           uint32
	Type         uint32
	Name         [32]byte
	Minimum      int32
	Maximum      int32
	Step         int32
	DefaultValue int32
	Flags        uint32
	Reserved     [2]uint32
}

// ExtControl is struct v4l2_ext_control. The C struct is packed: its
// 8-byte union {value, value64, string, ptr...} starts at offset 12, so it is
// held as two 32-bit words here to keep Go from aligning it.
type ExtControl struct {
	ID        uint32
	Size      uint32
	Reserved2 uint32
	value     [2]uint32
}

// Value returns the 32-bit value of the union.
func (c *ExtControl) Value() int32 { return int32(c.value[0]) }

// SetValue sets the 32-bit value and clears the upper half of the union.
func (c *ExtControl) SetValue(v int32) { c.value = [2]uint32{uint32(v), 0} }

// Value64 returns the union as value64 (little-endian).
func (c *ExtControl) Value64() int64 { return int64(uint64(c.value[1])<<32 | uint64(c.value[0])) }

// SetValue64 sets the union as value64 (little-endian).
func (c *ExtControl) SetValue64(v int64) { c.value = [2]uint32{uint32(v), uint32(uint64(v) >> 32)} }

// ExtControls is struct v4l2_ext_controls (VIDIOC_G/S/TRY_EXT_CTRLS).
// Controls points at Count ExtControl values; Device.SetControls fills it
// from a slice.
type ExtControls struct {
	Which     uint32
	Count     uint32
	ErrorIdx  uint32
	RequestFD int32
	Reserved  [1]uint32
	Controls  uintptr
}

// EncoderCmd is struct v4l2_encoder_cmd (VIDIOC_ENCODER_CMD).
type EncoderCmd struct {
	Cmd   uint32
	Flags uint32
	Raw   [8]uint32
}

// EventSubscription is struct v4l2_event_subscription.
type EventSubscription struct {
	Type     uint32
	ID       uint32
	Flags    uint32
	Reserved [5]uint32
}

// Event is struct v4l2_event (VIDIOC_DQEVENT). Its union contains an __s64
// (struct v4l2_event_ctrl), which aligns it to 8 bytes on arm EABI as on
// 64-bit: hence the explicit word after Type, and on arm a trailing padding
// word counted into Reserved (eventReservedWords, per GOARCH).
type Event struct {
	Type      uint32
	_         uint32
	U         [64]byte
	Pending   uint32
	Sequence  uint32
	Timestamp Timespec
	ID        uint32
	Reserved  [eventReservedWords]uint32
}

// FrmSizeEnum is struct v4l2_frmsizeenum (VIDIOC_ENUM_FRAMESIZES). The union
// is struct v4l2_frmsize_discrete {width, height} or v4l2_frmsize_stepwise
// {min_width, max_width, step_width, min_height, max_height, step_height}.
type FrmSizeEnum struct {
	Index       uint32
	PixelFormat uint32
	Type        uint32
	U           [6]uint32
	Reserved    [2]uint32
}

// Frame size types (FrmSizeEnum.Type).
const (
	FrmSizeTypeDiscrete   = 1
	FrmSizeTypeContinuous = 2
	FrmSizeTypeStepwise   = 3
)

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
