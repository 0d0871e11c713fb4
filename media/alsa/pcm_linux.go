//go:build linux

package alsa

import (
	"errors"
	"path/filepath"
	"sort"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PCM is an open /dev/snd/pcmC*D*[cp] node, used from one goroutine.
type PCM struct {
	fd     int
	events int16 // POLLIN for capture, POLLOUT for playback
	x      xferi // reused: passed to ioctl by pointer
	delay  int   // reused: DELAY's result
}

// Open opens a PCM node non-blocking; the stream direction follows the
// node's name (…c capture, …p playback).
func Open(path string) (*PCM, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ev := int16(unix.POLLIN)
	if Direction(path) == Playback {
		ev = unix.POLLOUT
	}
	return &PCM{fd: fd, events: ev}, nil
}

func (p *PCM) ioctl(req uint32, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), uintptr(req), uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// HWParams is SNDRV_PCM_IOCTL_HW_PARAMS: h is refined in place.
func (p *PCM) HWParams(h *HWParams) error { return p.ioctl(ioctlHWParams, unsafe.Pointer(h)) }

// Prepare is SNDRV_PCM_IOCTL_PREPARE (also the xrun recovery).
func (p *PCM) Prepare() error { return p.ioctl(ioctlPrepare, nil) }

// ReadI is SNDRV_PCM_IOCTL_READI_FRAMES: up to frames interleaved frames
// into buf; EAGAIN when none are ready, EPIPE on overrun.
func (p *PCM) ReadI(buf []int16, frames int) (int, error) {
	if frames <= 0 || len(buf) == 0 {
		return 0, nil
	}
	p.x = xferi{buf: uintptr(unsafe.Pointer(&buf[0])), frames: uintptr(frames)}
	if err := p.ioctl(ioctlReadIFrame, unsafe.Pointer(&p.x)); err != nil {
		return 0, err
	}
	return p.x.result, nil
}

// WriteI is SNDRV_PCM_IOCTL_WRITEI_FRAMES: up to frames interleaved frames
// from buf; EAGAIN when the ring is full, EPIPE on underrun.
func (p *PCM) WriteI(buf []int16, frames int) (int, error) {
	if frames <= 0 || len(buf) == 0 {
		return 0, nil
	}
	p.x = xferi{buf: uintptr(unsafe.Pointer(&buf[0])), frames: uintptr(frames)}
	if err := p.ioctl(ioctlWriteIFrame, unsafe.Pointer(&p.x)); err != nil {
		return 0, err
	}
	return p.x.result, nil
}

// Delay is SNDRV_PCM_IOCTL_DELAY: for playback, the frames written but not
// yet played (the latency a sample written now will see).
func (p *PCM) Delay() (int, error) {
	if err := p.ioctl(ioctlDelay, unsafe.Pointer(&p.delay)); err != nil {
		return 0, err
	}
	return p.delay, nil
}

// Poll waits up to timeout for the stream to be readable (capture) or
// writable (playback).
func (p *PCM) Poll(timeout time.Duration) (bool, error) {
	fds := [1]unix.PollFd{{Fd: int32(p.fd), Events: p.events}}
	n, err := unix.Poll(fds[:], int(timeout/time.Millisecond))
	if err != nil {
		return false, err
	}
	if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && fds[0].Revents&p.events == 0 {
		return false, unix.ENODEV
	}
	return n > 0, nil
}

// Close drops the stream and closes the node.
func (p *PCM) Close() error {
	_ = p.ioctl(ioctlDrop, nil)
	return unix.Close(p.fd)
}

// Find returns the first ALSA node of the direction
// (/dev/snd/pcmC*D*c or …p); with a hint, the first whose card name in
// /proc/asound/cards contains it (case-insensitive).
func Find(dir Dir, hint string) (string, error) {
	paths, _ := filepath.Glob("/dev/snd/pcmC*D*" + string(dir))
	sort.Strings(paths)
	if len(paths) == 0 {
		return "", ErrNoDevice
	}
	if hint == "" {
		return paths[0], nil
	}
	cards := readCards()
	for _, p := range paths {
		var card, dev int
		if _, err := sscanPCM(filepath.Base(p), &card, &dev); err == nil && matchCard(cards[card], hint) {
			return p, nil
		}
	}
	return "", errors.Join(ErrNoDevice, errors.New("no card matches "+hint))
}
