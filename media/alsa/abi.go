package alsa

import "unsafe"

// ALSA PCM ABI (include/uapi/sound/asound.h, protocol 2.0.x).

// Hardware parameter indices (SNDRV_PCM_HW_PARAM_*).
const (
	ParamAccess     = 0 // masks
	ParamFormat     = 1
	ParamSubformat  = 2
	ParamSampleBits = 8 // intervals
	ParamFrameBits  = 9
	ParamChannels   = 10
	ParamRate       = 11
	ParamPeriodTime = 12
	ParamPeriodSize = 13
	ParamPeriods    = 15
	ParamBufferSize = 17
	paramFirstMask  = ParamAccess
	paramFirstIntvl = ParamSampleBits
	paramLastIntvl  = 19 // SNDRV_PCM_HW_PARAM_TICK_TIME

	AccessRWInterleaved = 3 // SNDRV_PCM_ACCESS_RW_INTERLEAVED
	FormatS16LE         = 2 // SNDRV_PCM_FORMAT_S16_LE
	SubformatStd        = 0
)

// Mask is struct snd_mask (SNDRV_MASK_MAX = 256 bits).
type Mask struct{ Bits [8]uint32 }

// Interval is struct snd_interval; flags holds the bitfield
// openmin:1 openmax:1 integer:1 empty:1.
type Interval struct {
	Min, Max uint32
	Flags    uint32
}

const intervalInteger = 1 << 2

// HWParams is struct snd_pcm_hw_params. fifo_size is snd_pcm_uframes_t
// (unsigned long), so the struct is 608 bytes on 64-bit and 604 on 32-bit.
type HWParams struct {
	flags     uint32
	Masks     [3]Mask
	mres      [5]Mask
	Intervals [12]Interval
	ires      [9]Interval
	rmask     uint32
	cmask     uint32
	info      uint32
	msbits    uint32
	rateNum   uint32
	rateDen   uint32
	fifoSize  uintptr
	reserved  [64]byte
}

// xferi is struct snd_xferi (READI_FRAMES, WRITEI_FRAMES): result is snd_pcm_sframes_t,
// frames snd_pcm_uframes_t, both long.
type xferi struct {
	result int
	buf    uintptr
	frames uintptr
}

// ioctl numbers: _IOWR('A', 0x11, snd_pcm_hw_params), _IO('A', 0x40) for
// PREPARE, _IOR('A', 0x51, snd_xferi) for READI_FRAMES, _IOW('A', 0x50,
// snd_xferi) for WRITEI_FRAMES, _IOR('A', 0x21, snd_pcm_sframes_t) for
// DELAY, _IO('A', 0x43) for DROP.
const (
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uint32 {
	return uint32(dir<<30 | size<<16 | 'A'<<8 | nr)
}

var (
	ioctlHWParams    = ioc(iocRead|iocWrite, 0x11, unsafe.Sizeof(HWParams{}))
	ioctlPrepare     = ioc(0, 0x40, 0)
	ioctlDrop        = ioc(0, 0x43, 0)
	ioctlReadIFrame  = ioc(iocRead, 0x51, unsafe.Sizeof(xferi{}))
	ioctlWriteIFrame = ioc(iocWrite, 0x50, unsafe.Sizeof(xferi{}))
	ioctlDelay       = ioc(iocRead, 0x21, unsafe.Sizeof(int(0)))
)

// NewHWParams returns params with every mask and interval unrestricted and
// every parameter marked for refinement, like snd_pcm_hw_params_any.
func NewHWParams() *HWParams {
	p := &HWParams{rmask: ^uint32(0)}
	for i := range p.Masks {
		for j := range p.Masks[i].Bits {
			p.Masks[i].Bits[j] = ^uint32(0)
		}
	}
	for i := range p.Intervals {
		p.Intervals[i] = Interval{Min: 0, Max: ^uint32(0)}
	}
	return p
}

// SetMask restricts a mask parameter to the one value bit.
func (p *HWParams) SetMask(param, bit int) {
	m := &p.Masks[param-paramFirstMask]
	*m = Mask{}
	m.Bits[bit/32] = 1 << (bit % 32)
}

// SetInterval restricts an interval parameter to exactly v.
func (p *HWParams) SetInterval(param int, v uint32) {
	p.Intervals[param-paramFirstIntvl] = Interval{Min: v, Max: v, Flags: intervalInteger}
}

// Interval returns an interval parameter (refined by HW_PARAMS).
func (p *HWParams) Interval(param int) Interval { return p.Intervals[param-paramFirstIntvl] }

// HWParamser is the part of a PCM handle SetS16 needs (*PCM, or a test's
// fake).
type HWParamser interface {
	HWParams(p *HWParams) error
}

// SetS16 sets interleaved S16_LE at rate with periods of periodFrames,
// mono if the device takes it, else stereo, and returns the channel count.
// It returns at once an error that means the device is gone (Gone), else
// the last refusal when neither count is taken.
func SetS16(dev HWParamser, rate, periodFrames, periods int) (channels int, err error) {
	for _, ch := range []int{1, 2} {
		p := NewHWParams()
		p.SetMask(ParamAccess, AccessRWInterleaved)
		p.SetMask(ParamFormat, FormatS16LE)
		p.SetMask(ParamSubformat, SubformatStd)
		p.SetInterval(ParamSampleBits, 16)
		p.SetInterval(ParamFrameBits, uint32(16*ch))
		p.SetInterval(ParamChannels, uint32(ch))
		p.SetInterval(ParamRate, uint32(rate))
		p.SetInterval(ParamPeriodSize, uint32(periodFrames))
		p.SetInterval(ParamPeriods, uint32(periods))
		if err = dev.HWParams(p); err == nil {
			return ch, nil
		}
		if Gone(err) {
			return 0, err
		}
	}
	return 0, err
}
