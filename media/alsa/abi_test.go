package alsa

import (
	"runtime"
	"testing"
	"unsafe"
)

// Golden values printed by a C program including <sound/asound.h> (Debian
// 12 linux-libc-dev 6.1), built with gcc, aarch64-linux-gnu-gcc and
// arm-linux-gnueabihf-gcc and run natively and under qemu-user:
// snd_pcm_hw_params is 608 bytes with 8-byte longs, 604 with 4-byte ones;
// snd_xferi is three longs. WRITEI_FRAMES and DELAY were added the same way
// for the speaker.
func TestABIGolden(t *testing.T) {
	type golden struct {
		hwSize, xferSize, fifoOff uintptr
		hw, readi, writei, delay  uint32
	}
	want := map[string]golden{
		"amd64": {608, 24, 536, 0xc2604111, 0x80184151, 0x40184150, 0x80084121},
		"arm64": {608, 24, 536, 0xc2604111, 0x80184151, 0x40184150, 0x80084121},
		"arm":   {604, 12, 536, 0xc25c4111, 0x800c4151, 0x400c4150, 0x80044121},
	}
	g, ok := want[runtime.GOARCH]
	if !ok {
		t.Skipf("no golden ABI values for %s", runtime.GOARCH)
	}
	var p HWParams
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(snd_pcm_hw_params)", unsafe.Sizeof(p), g.hwSize},
		{"offsetof(masks)", unsafe.Offsetof(p.Masks), 4},
		{"offsetof(intervals)", unsafe.Offsetof(p.Intervals), 260},
		{"offsetof(rmask)", unsafe.Offsetof(p.rmask), 512},
		{"offsetof(fifo_size)", unsafe.Offsetof(p.fifoSize), g.fifoOff},
		{"sizeof(snd_xferi)", unsafe.Sizeof(xferi{}), g.xferSize},
		{"SNDRV_PCM_IOCTL_HW_PARAMS", uintptr(ioctlHWParams), uintptr(g.hw)},
		{"SNDRV_PCM_IOCTL_READI_FRAMES", uintptr(ioctlReadIFrame), uintptr(g.readi)},
		{"SNDRV_PCM_IOCTL_WRITEI_FRAMES", uintptr(ioctlWriteIFrame), uintptr(g.writei)},
		{"SNDRV_PCM_IOCTL_DELAY", uintptr(ioctlDelay), uintptr(g.delay)},
		{"SNDRV_PCM_IOCTL_PREPARE", uintptr(ioctlPrepare), 0x4140},
		{"SNDRV_PCM_IOCTL_DROP", uintptr(ioctlDrop), 0x4143},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}
