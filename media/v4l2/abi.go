package v4l2

import "unsafe"

// ioctl request encoding, include/uapi/asm-generic/ioctl.h: the same on
// x86-64, arm64 and arm (dir in bits 30-31, size in 16-29, type in 8-15).
const (
	iocW  uint32 = 1 << 30 // _IOW: userspace writes
	iocR  uint32 = 2 << 30 // _IOR: userspace reads
	iocRW        = iocR | iocW
	iocV  uint32 = 'V' << 8 // the V4L2 ioctl type
)

// The ioctls of videodev2.h we use. Sizes come from the Go mirrors of the C
// structs, so a wrong mirror shows up twice in the golden tests.
const (
	VIDIOC_QUERYCAP          = iocR | uint32(unsafe.Sizeof(Capability{}))<<16 | iocV | 0
	VIDIOC_ENUM_FMT          = iocRW | uint32(unsafe.Sizeof(FmtDesc{}))<<16 | iocV | 2
	VIDIOC_G_FMT             = iocRW | uint32(unsafe.Sizeof(Format{}))<<16 | iocV | 4
	VIDIOC_S_FMT             = iocRW | uint32(unsafe.Sizeof(Format{}))<<16 | iocV | 5
	VIDIOC_REQBUFS           = iocRW | uint32(unsafe.Sizeof(RequestBuffers{}))<<16 | iocV | 8
	VIDIOC_QUERYBUF          = iocRW | uint32(unsafe.Sizeof(Buffer{}))<<16 | iocV | 9
	VIDIOC_QBUF              = iocRW | uint32(unsafe.Sizeof(Buffer{}))<<16 | iocV | 15
	VIDIOC_EXPBUF            = iocRW | uint32(unsafe.Sizeof(ExportBuffer{}))<<16 | iocV | 16
	VIDIOC_DQBUF             = iocRW | uint32(unsafe.Sizeof(Buffer{}))<<16 | iocV | 17
	VIDIOC_STREAMON          = iocW | uint32(unsafe.Sizeof(int32(0)))<<16 | iocV | 18
	VIDIOC_STREAMOFF         = iocW | uint32(unsafe.Sizeof(int32(0)))<<16 | iocV | 19
	VIDIOC_G_PARM            = iocRW | uint32(unsafe.Sizeof(StreamParm{}))<<16 | iocV | 21
	VIDIOC_S_PARM            = iocRW | uint32(unsafe.Sizeof(StreamParm{}))<<16 | iocV | 22
	VIDIOC_G_CTRL            = iocRW | uint32(unsafe.Sizeof(Control{}))<<16 | iocV | 27
	VIDIOC_S_CTRL            = iocRW | uint32(unsafe.Sizeof(Control{}))<<16 | iocV | 28
	VIDIOC_QUERYCTRL         = iocRW | uint32(unsafe.Sizeof(QueryCtrl{}))<<16 | iocV | 36
	VIDIOC_TRY_FMT           = iocRW | uint32(unsafe.Sizeof(Format{}))<<16 | iocV | 64
	VIDIOC_G_EXT_CTRLS       = iocRW | uint32(unsafe.Sizeof(ExtControls{}))<<16 | iocV | 71
	VIDIOC_S_EXT_CTRLS       = iocRW | uint32(unsafe.Sizeof(ExtControls{}))<<16 | iocV | 72
	VIDIOC_TRY_EXT_CTRLS     = iocRW | uint32(unsafe.Sizeof(ExtControls{}))<<16 | iocV | 73
	VIDIOC_ENUM_FRAMESIZES   = iocRW | uint32(unsafe.Sizeof(FrmSizeEnum{}))<<16 | iocV | 74
	VIDIOC_ENCODER_CMD       = iocRW | uint32(unsafe.Sizeof(EncoderCmd{}))<<16 | iocV | 77
	VIDIOC_TRY_ENCODER_CMD   = iocRW | uint32(unsafe.Sizeof(EncoderCmd{}))<<16 | iocV | 78
	VIDIOC_DQEVENT           = iocR | uint32(unsafe.Sizeof(Event{}))<<16 | iocV | 89
	VIDIOC_SUBSCRIBE_EVENT   = iocW | uint32(unsafe.Sizeof(EventSubscription{}))<<16 | iocV | 90
	VIDIOC_UNSUBSCRIBE_EVENT = iocW | uint32(unsafe.Sizeof(EventSubscription{}))<<16 | iocV | 91
)

// Capability bits (struct v4l2_capability.capabilities / device_caps).
const (
	CapVideoCapture       = 0x00000001
	CapVideoOutput        = 0x00000002
	CapVideoCaptureMPlane = 0x00001000
	CapVideoOutputMPlane  = 0x00002000
	CapVideoM2MMPlane     = 0x00004000
	CapVideoM2M           = 0x00008000
	CapStreaming          = 0x04000000
	CapDeviceCaps         = 0x80000000
)

// BufType is enum v4l2_buf_type.
type BufType uint32

// Buffer types. A mem2mem encoder's OUTPUT queue takes raw frames from us and
// its CAPTURE queue gives coded data back (the names are from the
// application's point of view of a capture/output device).
const (
	BufTypeVideoCapture       BufType = 1
	BufTypeVideoOutput        BufType = 2
	BufTypeVideoCaptureMPlane BufType = 9
	BufTypeVideoOutputMPlane  BufType = 10
)

// MPlane reports whether t uses the multi-planar API (planes array in Buffer.M).
func (t BufType) MPlane() bool {
	return t == BufTypeVideoCaptureMPlane || t == BufTypeVideoOutputMPlane
}

func (t BufType) String() string {
	switch t {
	case BufTypeVideoCapture:
		return "CAPTURE"
	case BufTypeVideoOutput:
		return "OUTPUT"
	case BufTypeVideoCaptureMPlane:
		return "CAPTURE_MPLANE"
	case BufTypeVideoOutputMPlane:
		return "OUTPUT_MPLANE"
	}
	return "BufType(" + itoa(uint64(t)) + ")"
}

// Memory is enum v4l2_memory.
type Memory uint32

// Memory types.
const (
	MemoryMMAP    Memory = 1
	MemoryUserPtr Memory = 2
	MemoryDMABuf  Memory = 4
)

func (m Memory) String() string {
	switch m {
	case MemoryMMAP:
		return "MMAP"
	case MemoryUserPtr:
		return "USERPTR"
	case MemoryDMABuf:
		return "DMABUF"
	}
	return "Memory(" + itoa(uint64(m)) + ")"
}

// Field values (enum v4l2_field).
const (
	FieldAny  = 0
	FieldNone = 1
)

// Buffer flags (struct v4l2_buffer.flags).
const (
	BufFlagMapped        = 0x00000001
	BufFlagQueued        = 0x00000002
	BufFlagDone          = 0x00000004
	BufFlagKeyframe      = 0x00000008
	BufFlagPFrame        = 0x00000010
	BufFlagBFrame        = 0x00000020
	BufFlagError         = 0x00000040
	BufFlagTimestampCopy = 0x00004000
	BufFlagLast          = 0x00100000
)

// Encoder commands (VIDIOC_ENCODER_CMD), Documentation/userspace-api/media/v4l/vidioc-encoder-cmd.rst.
const (
	EncCmdStart  = 0
	EncCmdStop   = 1
	EncCmdPause  = 2
	EncCmdResume = 3
)

// Event types (VIDIOC_SUBSCRIBE_EVENT / VIDIOC_DQEVENT).
const (
	EventEOS          = 2
	EventSourceChange = 5
)

// Fourcc builds a V4L2 pixel format code, v4l2_fourcc() in videodev2.h.
func Fourcc(a, b, c, d byte) uint32 {
	return uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(d)<<24
}

// Pixel formats.
var (
	PixFmtYUYV   = Fourcc('Y', 'U', 'Y', 'V') // packed 4:2:2
	PixFmtNV12   = Fourcc('N', 'V', '1', '2') // 4:2:0, Y plane then interleaved CbCr, one memory plane
	PixFmtYUV420 = Fourcc('Y', 'U', '1', '2') // I420: Y, Cb, Cr planes, one memory plane
	PixFmtMJPEG  = Fourcc('M', 'J', 'P', 'G')
	PixFmtH264   = Fourcc('H', '2', '6', '4') // Annex B byte stream with start codes
	PixFmtFWHT   = Fourcc('F', 'W', 'H', 'T') // vicodec's Fast Walsh Hadamard Transform codec
)

// FourccString renders a pixel format code as its four characters.
func FourccString(f uint32) string {
	b := [4]byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b[:])
}

// Control classes and IDs, include/uapi/linux/v4l2-controls.h. The codec
// class was called MPEG before kernel 5.11; the numbers are unchanged.
const (
	CtrlClassCodec = 0x00990000
	CIDCodecBase   = CtrlClassCodec | 0x900

	CIDMPEGVideoGOPSize            = CIDCodecBase + 203
	CIDMPEGVideoBitrateMode        = CIDCodecBase + 206
	CIDMPEGVideoBitrate            = CIDCodecBase + 207
	CIDMPEGVideoRepeatSeqHeader    = CIDCodecBase + 226
	CIDMPEGVideoForceKeyFrame      = CIDCodecBase + 229
	CIDMPEGVideoH264MinQP          = CIDCodecBase + 353
	CIDMPEGVideoH264MaxQP          = CIDCodecBase + 354
	CIDMPEGVideoH264IPeriod        = CIDCodecBase + 358
	CIDMPEGVideoH264Level          = CIDCodecBase + 359
	CIDMPEGVideoH264Profile        = CIDCodecBase + 363
	CIDMPEGVideoPrependSPSPPSToIDR = CIDCodecBase + 644

	// CtrlWhichCurVal selects the current value in ExtControls.Which
	// (allows controls of several classes in one call, kernel >= 4.4).
	CtrlWhichCurVal = 0
)

// Values of the enum-typed codec controls.
const (
	BitrateModeVBR = 0
	BitrateModeCBR = 1

	H264ProfileBaseline            = 0
	H264ProfileConstrainedBaseline = 1
	H264ProfileMain                = 2
	H264ProfileHigh                = 4

	H264Level1_0 = 0
	H264Level3_0 = 8
	H264Level3_1 = 9
	H264Level3_2 = 10
	H264Level4_0 = 11
	H264Level4_1 = 12
	H264Level4_2 = 13
)

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
