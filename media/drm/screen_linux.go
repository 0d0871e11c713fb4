//go:build linux

package drm

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Screen is one connected output driven with two dumb buffers. Not safe
// for concurrent use: the display's Run goroutine owns it.
type Screen struct {
	fd   int
	info Info
	mode ModeInfo
	conn uint32

	bufs    [2]dumb
	front   int  // index of the buffer on screen
	noFlip  bool // PAGE_FLIP refused: present with SETCRTC
	evbuf   [256]byte
	pfd     [1]unix.PollFd
	wbConn  uint32 // writeback connector, 0 if none
	wbProps map[string]uint32
	// connCRTCProp is the output connector's CRTC_ID property, for a
	// writeback that must take the output's place (Capture).
	connCRTCProp uint32
}

type dumb struct {
	handle, fb uint32
	pitch      int
	mem        []byte
}

// Find returns the first /dev/dri/card* with a connected connector.
func Find() (string, error) {
	paths, _ := filepath.Glob("/dev/dri/card*")
	sort.Strings(paths)
	for _, p := range paths {
		s, err := Open(p)
		if err == nil {
			_ = s.Close()
			return p, nil
		}
	}
	return "", fmt.Errorf("%w among %d cards", ErrNoDisplay, len(paths))
}

// Open opens the card at path, picks its first connected connector (not a
// writeback one) and that connector's preferred mode, and shows a black
// picture. The process becomes DRM master by being the first to open the
// card (no X, no Wayland on the appliance).
func Open(path string) (*Screen, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%w: %s: %w", ErrNoDisplay, path, err)
		}
		return nil, wrap("open "+path, err)
	}
	s := &Screen{fd: fd, info: Info{Path: path}}
	if err := s.setup(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// ioctl retries on EINTR and EAGAIN (drm_ioctl may return either while the
// device is busy) and returns the bare errno.
func (s *Screen) ioctl(req uint32, arg unsafe.Pointer) error {
	for i := 0; ; i++ {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), uintptr(req), uintptr(arg))
		switch {
		case e == 0:
			return nil
		case e == unix.EINTR || (e == unix.EAGAIN && i < 100):
			continue
		}
		return e
	}
}

func ptr[T any](s []T) uint64 {
	if len(s) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&s[0])))
}

func (s *Screen) setup() error {
	c := getCap{Capability: capDumbBuffer}
	if err := s.ioctl(ioctlGetCap, unsafe.Pointer(&c)); err != nil || c.Value == 0 {
		return fmt.Errorf("%w: %s has no dumb buffers (%v)", ErrNoDisplay, s.info.Path, err)
	}
	// Writeback connectors are only listed to atomic clients that ask
	// (drm_mode_getresources hides them otherwise).
	atomicOK := s.setClientCap(clientCapAtomic, 1) == nil && s.setClientCap(clientCapWritebackConnects, 1) == nil

	// Two rounds, as libdrm's drmModeGetResources: counts, then arrays.
	var res cardRes
	if err := s.ioctl(ioctlModeGetRes, unsafe.Pointer(&res)); err != nil {
		return wrap("MODE_GETRESOURCES", err)
	}
	if res.CountConnectors > 64 || res.CountCRTCs > 64 {
		return fmt.Errorf("%w: %d connectors, %d CRTCs", ErrNoDisplay, res.CountConnectors, res.CountCRTCs)
	}
	crtcs := make([]uint32, res.CountCRTCs)
	conns := make([]uint32, res.CountConnectors)
	res = cardRes{CRTCIDPtr: ptr(crtcs), ConnectorIDPtr: ptr(conns),
		CountCRTCs: uint32(len(crtcs)), CountConnectors: uint32(len(conns))}
	err := s.ioctl(ioctlModeGetRes, unsafe.Pointer(&res))
	runtime.KeepAlive(crtcs)
	runtime.KeepAlive(conns)
	if err != nil {
		return wrap("MODE_GETRESOURCES", err)
	}
	crtcs, conns = crtcs[:min(len(crtcs), int(res.CountCRTCs))], conns[:min(len(conns), int(res.CountConnectors))]

	for _, id := range conns {
		gc, modes, encs, err := s.connector(id)
		if err != nil {
			return err
		}
		if gc.ConnectorType == connectorTypeWriteback {
			if atomicOK && s.wbConn == 0 {
				s.wbConn = id
			}
			continue
		}
		if s.conn != 0 || gc.Connection != connected || len(modes) == 0 {
			continue
		}
		crtc := s.pickCRTC(gc.EncoderID, encs, crtcs)
		if crtc == 0 {
			continue
		}
		s.conn, s.info.Connector, s.info.CRTC = id, id, crtc
		s.mode = modes[0]
		for _, m := range modes {
			if m.Type&modeTypePreferred != 0 {
				s.mode = m
				break
			}
		}
	}
	if s.conn == 0 {
		return fmt.Errorf("%w: %s: no connected connector with a mode", ErrNoDisplay, s.info.Path)
	}
	s.info.Width, s.info.Height = int(s.mode.HDisplay), int(s.mode.VDisplay)
	s.info.Refresh = int(s.mode.VRefresh)
	if s.info.Width < 64 || s.info.Height < 64 || s.info.Width > 8192 || s.info.Height > 8192 {
		return fmt.Errorf("%w: mode %dx%d", ErrNoDisplay, s.info.Width, s.info.Height)
	}
	for i := range s.bufs {
		if s.bufs[i], err = s.newDumb(s.info.Width, s.info.Height); err != nil {
			return err
		}
	}
	if s.wbConn != 0 {
		if s.wbProps, err = s.props(s.wbConn, objectConnector); err != nil {
			return err
		}
		s.info.Writeback = s.wbProps["WRITEBACK_FB_ID"] != 0 && s.wbProps["CRTC_ID"] != 0
		if cp, err := s.props(s.conn, objectConnector); err == nil {
			s.connCRTCProp = cp["CRTC_ID"]
		}
	}
	s.front = 0
	return s.setCRTC(s.bufs[0].fb)
}

func (s *Screen) setClientCap(cap, v uint64) error {
	c := getCap{Capability: cap, Value: v}
	return s.ioctl(ioctlSetClientCap, unsafe.Pointer(&c))
}

// connector reads one connector with its modes and encoders (two rounds;
// the counts can change between them on hotplug, so the second round's
// are clamped to the arrays).
func (s *Screen) connector(id uint32) (getConnector, []ModeInfo, []uint32, error) {
	gc := getConnector{ConnectorID: id}
	if err := s.ioctl(ioctlModeGetConn, unsafe.Pointer(&gc)); err != nil {
		return gc, nil, nil, wrap("MODE_GETCONNECTOR", err)
	}
	nm, ne := min(gc.CountModes, 256), min(gc.CountEncoders, 16)
	modes := make([]ModeInfo, nm)
	encs := make([]uint32, ne)
	gc = getConnector{ConnectorID: id, ModesPtr: ptr(modes), CountModes: nm, EncodersPtr: ptr(encs), CountEncoders: ne}
	err := s.ioctl(ioctlModeGetConn, unsafe.Pointer(&gc))
	runtime.KeepAlive(modes)
	runtime.KeepAlive(encs)
	if err != nil {
		return gc, nil, nil, wrap("MODE_GETCONNECTOR", err)
	}
	return gc, modes[:min(nm, gc.CountModes)], encs[:min(ne, gc.CountEncoders)], nil
}

// pickCRTC prefers the CRTC behind the connector's current encoder, else
// the first CRTC any of its encoders can drive.
func (s *Screen) pickCRTC(cur uint32, encs, crtcs []uint32) uint32 {
	if cur != 0 {
		e := getEncoder{EncoderID: cur}
		if s.ioctl(ioctlModeGetEncoder, unsafe.Pointer(&e)) == nil && e.CRTCID != 0 {
			return e.CRTCID
		}
	}
	for _, id := range encs {
		e := getEncoder{EncoderID: id}
		if s.ioctl(ioctlModeGetEncoder, unsafe.Pointer(&e)) != nil {
			continue
		}
		for i, c := range crtcs {
			if i < 32 && e.PossibleCRTCs&(1<<i) != 0 {
				return c
			}
		}
	}
	return 0
}

func (s *Screen) newDumb(w, h int) (dumb, error) {
	cd := createDumb{Width: uint32(w), Height: uint32(h), BPP: 32}
	if err := s.ioctl(ioctlModeCreateDumb, unsafe.Pointer(&cd)); err != nil {
		return dumb{}, wrap("MODE_CREATE_DUMB", err)
	}
	d := dumb{handle: cd.Handle, pitch: int(cd.Pitch)}
	fb := fbCmd{Width: uint32(w), Height: uint32(h), Pitch: cd.Pitch, BPP: 32, Depth: 24, Handle: cd.Handle}
	if err := s.ioctl(ioctlModeAddFB, unsafe.Pointer(&fb)); err != nil {
		s.freeDumb(&d)
		return dumb{}, wrap("MODE_ADDFB", err)
	}
	d.fb = fb.FBID
	md := mapDumb{Handle: cd.Handle}
	if err := s.ioctl(ioctlModeMapDumb, unsafe.Pointer(&md)); err != nil {
		s.freeDumb(&d)
		return dumb{}, wrap("MODE_MAP_DUMB", err)
	}
	if cd.Size == 0 || cd.Size > 1<<28 || int(cd.Size) < d.pitch*h {
		s.freeDumb(&d)
		return dumb{}, fmt.Errorf("drm: dumb buffer of %d bytes for %dx%d", cd.Size, w, h)
	}
	mem, err := unix.Mmap(s.fd, int64(md.Offset), int(cd.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		s.freeDumb(&d)
		return dumb{}, wrap("mmap dumb", err)
	}
	d.mem = mem
	clear(mem)
	return d, nil
}

func (s *Screen) freeDumb(d *dumb) {
	if d.mem != nil {
		_ = unix.Munmap(d.mem)
		d.mem = nil
	}
	if d.fb != 0 {
		fb := d.fb
		_ = s.ioctl(ioctlModeRmFB, unsafe.Pointer(&fb))
		d.fb = 0
	}
	if d.handle != 0 {
		h := d.handle
		_ = s.ioctl(ioctlModeDestroyDumb, unsafe.Pointer(&h))
		d.handle = 0
	}
}

func (s *Screen) setCRTC(fb uint32) error {
	conns := []uint32{s.conn}
	c := modeCRTC{SetConnectorsPtr: ptr(conns), CountConnectors: 1, CRTCID: s.info.CRTC, FBID: fb, ModeValid: 1, Mode: s.mode}
	err := s.ioctl(ioctlModeSetCRTC, unsafe.Pointer(&c))
	runtime.KeepAlive(conns)
	if err != nil {
		return wrap("MODE_SETCRTC", err)
	}
	return nil
}

// Info describes the output.
func (s *Screen) Info() Info { return s.info }

// Back returns the buffer not on screen, to draw the next picture into.
func (s *Screen) Back() Buffer {
	b := &s.bufs[1-s.front]
	return Buffer{Pix: b.mem, Stride: b.pitch, Width: s.info.Width, Height: s.info.Height}
}

// Present shows the back buffer: a page flip on the next vertical blank,
// waited for (bounded by FlipTimeout) so the buffer now in the back is no
// longer scanned out when the caller draws into it. A driver without page
// flips gets SETCRTC instead.
func (s *Screen) Present() error {
	next := 1 - s.front
	if !s.noFlip {
		pf := pageFlip{CRTCID: s.info.CRTC, FBID: s.bufs[next].fb, Flags: pageFlipEvent}
		err := s.ioctl(ioctlModePageFlip, unsafe.Pointer(&pf))
		switch {
		case err == nil:
			if err := s.waitFlip(); err != nil {
				return err
			}
			s.front = next
			return nil
		case gone(err):
			return wrap("MODE_PAGE_FLIP", err)
		case errors.Is(err, syscall.EBUSY):
			// A flip still pending from a timed-out wait: let it land.
			if err := s.waitFlip(); err != nil {
				return err
			}
			return s.Present()
		}
		s.noFlip = true // EINVAL/ENOSYS: no flips on this driver
	}
	if err := s.setCRTC(s.bufs[next].fb); err != nil {
		return err
	}
	s.front = next
	return nil
}

// waitFlip reads events until DRM_EVENT_FLIP_COMPLETE.
func (s *Screen) waitFlip() error {
	deadline := time.Now().Add(FlipTimeout)
	for {
		n, err := unix.Read(s.fd, s.evbuf[:])
		if err == nil && n >= int(unsafe.Sizeof(eventVblank{})) {
			for off := 0; off+8 <= n; {
				ev := (*eventVblank)(unsafe.Pointer(&s.evbuf[off]))
				if ev.Type == eventFlipComplete {
					return nil
				}
				if ev.Length < 8 {
					break
				}
				off += int(ev.Length)
			}
			continue
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return wrap("read event", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w: page flip", ErrTimeout)
		}
		s.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
		if _, err := unix.Poll(s.pfd[:], max(int(left/time.Millisecond), 1)); err != nil && err != unix.EINTR {
			return wrap("poll", err)
		}
		if s.pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return fmt.Errorf("drm: poll: %w", ErrDeviceGone)
		}
	}
}

// Close frees the buffers and closes the card (the kernel turns the CRTC
// off when its last framebuffer goes).
func (s *Screen) Close() error {
	for i := range s.bufs {
		s.freeDumb(&s.bufs[i])
	}
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
