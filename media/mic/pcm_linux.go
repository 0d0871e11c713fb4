//go:build linux

package mic

import (
	"errors"
	"path/filepath"
	"sort"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pcm is an open /dev/snd/pcmC*D*c node.
type pcm struct {
	fd int
	x  xferi // reused: passed to ioctl by pointer
}

func openPCM(path string) (device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &pcm{fd: fd}, nil
}

func (p *pcm) ioctl(req uint32, arg unsafe.Pointer) error {
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

func (p *pcm) HWParams(h *hwParams) error { return p.ioctl(ioctlHWParams, unsafe.Pointer(h)) }
func (p *pcm) Prepare() error             { return p.ioctl(ioctlPrepare, nil) }

func (p *pcm) ReadI(buf []int16, frames int) (int, error) {
	if frames <= 0 || len(buf) == 0 {
		return 0, nil
	}
	p.x = xferi{buf: uintptr(unsafe.Pointer(&buf[0])), frames: uintptr(frames)}
	err := p.ioctl(ioctlReadIFrame, unsafe.Pointer(&p.x))
	if err != nil {
		return 0, err
	}
	return p.x.result, nil
}

func (p *pcm) Poll(timeout time.Duration) (bool, error) {
	fds := [1]unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds[:], int(timeout/time.Millisecond))
	if err != nil {
		return false, err
	}
	if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0 {
		return false, unix.ENODEV
	}
	return n > 0, nil
}

func (p *pcm) Close() error {
	_ = p.ioctl(ioctlDrop, nil)
	return unix.Close(p.fd)
}

// Find returns the first ALSA capture node (/dev/snd/pcmC*D*c); with a
// hint, the first whose card name in /proc/asound/cards contains it
// (case-insensitive).
func Find(hint string) (string, error) {
	paths, _ := filepath.Glob("/dev/snd/pcmC*D*c")
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
