package mic

import "unsafe"

// ALSA PCM ABI (include/uapi/sound/asound.h, protocol 2.0.x).

// Hardware parameter indices (SNDRV_PCM_HW_PARAM_*).
const (
	paramAccess     = 0 // masks
	paramFormat     = 1
	paramSubformat  = 2
	paramSampleBits = 8 // intervals
	paramFrameBits  = 9
	paramChannels   = 10
	paramRate       = 11
	paramPeriodTime = 12
	paramPeriodSize = 13
	paramPeriods    = 15
	paramBufferSize = 17
	paramFirstMask  = paramAccess
	paramFirstIntvl = paramSampleBits
	paramLastIntvl  = 19 // SNDRV_PCM_HW_PARAM_TICK_TIME

	accessRWInterleaved = 3 // SNDRV_PCM_ACCESS_RW_INTERLEAVED
	formatS16LE         = 2 // SNDRV_PCM_FORMAT_S16_LE
	subformatStd        = 0
)

// mask is struct snd_mask (SNDRV_MASK_MAX = 256 bits).
type mask struct{ bits [8]uint32 }

// interval is struct snd_interval; flags holds the bitfield
// openmin:1 openmax:1 integer:1 empty:1.
type interval struct {
	min, max uint32
	flags    uint32
}

const intervalInteger = 1 << 2

// hwParams is struct snd_pcm_hw_params. fifo_size is snd_pcm_uframes_t
// (unsigned long), so the struct is 608 bytes on 64-bit and 604 on 32-bit.
type hwParams struct {
	flags     uint32
	masks     [3]mask
	mres      [5]mask
	intervals [12]interval
	ires      [9]interval
	rmask     uint32
	cmask     uint32
	info      uint32
	msbits    uint32
	rateNum   uint32
	rateDen   uint32
	fifoSize  uintptr
	reserved  [64]byte
}

// xferi is struct snd_xferi (READI_FRAMES): result is snd_pcm_sframes_t,
// frames snd_pcm_uframes_t, both long.
type xferi struct {
	result int
	buf    uintptr
	frames uintptr
}

// ioctl numbers: _IOWR('A', 0x11, snd_pcm_hw_params), _IO('A', 0x40),
// _IOR('A', 0x51, snd_xferi), _IO('A', 0x43) for DROP.
const (
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uint32 {
	return uint32(dir<<30 | size<<16 | 'A'<<8 | nr)
}

var (
	ioctlHWParams   = ioc(iocRead|iocWrite, 0x11, unsafe.Sizeof(hwParams{}))
	ioctlPrepare    = ioc(0, 0x40, 0)
	ioctlDrop       = ioc(0, 0x43, 0)
	ioctlReadIFrame = ioc(iocRead, 0x51, unsafe.Sizeof(xferi{}))
)

// newHWParams returns params with every mask and interval unrestricted and
// every parameter marked for refinement, like snd_pcm_hw_params_any.
func newHWParams() *hwParams {
	p := &hwParams{rmask: ^uint32(0)}
	for i := range p.masks {
		for j := range p.masks[i].bits {
			p.masks[i].bits[j] = ^uint32(0)
		}
	}
	for i := range p.intervals {
		p.intervals[i] = interval{min: 0, max: ^uint32(0)}
	}
	return p
}

func (p *hwParams) setMask(param, bit int) {
	m := &p.masks[param-paramFirstMask]
	*m = mask{}
	m.bits[bit/32] = 1 << (bit % 32)
}

func (p *hwParams) setInterval(param int, v uint32) {
	p.intervals[param-paramFirstIntvl] = interval{min: v, max: v, flags: intervalInteger}
}

func (p *hwParams) interval(param int) interval { return p.intervals[param-paramFirstIntvl] }
