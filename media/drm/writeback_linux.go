//go:build linux

package drm

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// props returns the property IDs of a KMS object by name.
func (s *Screen) props(obj, typ uint32) (map[string]uint32, error) {
	g := objGetProps{ObjID: obj, ObjType: typ}
	if err := s.ioctl(ioctlModeObjGetProps, unsafe.Pointer(&g)); err != nil {
		return nil, wrap("MODE_OBJ_GETPROPERTIES", err)
	}
	n := min(g.CountProps, 64)
	ids := make([]uint32, n)
	vals := make([]uint64, n)
	g = objGetProps{ObjID: obj, ObjType: typ, PropsPtr: ptr(ids), PropValuesPtr: ptr(vals), CountProps: n}
	err := s.ioctl(ioctlModeObjGetProps, unsafe.Pointer(&g))
	runtime.KeepAlive(ids)
	runtime.KeepAlive(vals)
	if err != nil {
		return nil, wrap("MODE_OBJ_GETPROPERTIES", err)
	}
	out := make(map[string]uint32, n)
	for _, id := range ids[:min(n, g.CountProps)] {
		p := getProperty{PropID: id}
		if err := s.ioctl(ioctlModeGetProperty, unsafe.Pointer(&p)); err != nil {
			return nil, wrap("MODE_GETPROPERTY", err)
		}
		out[cstr(p.Name[:])] = id
	}
	return out, nil
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// Capture reads back what the CRTC scans out into dst (Width x Height
// XRGB8888, Stride bytes a row) through the writeback connector: one atomic
// commit attaches it to our CRTC with a framebuffer and an out-fence, the
// fence signals when the composed picture is written, and a second commit
// detaches it again. The picture comes from the display engine, not from our
// buffers, so it proves what reached the output.
func (s *Screen) Capture(timeout time.Duration) (Buffer, error) {
	if !s.info.Writeback {
		return Buffer{}, ErrNoWriteback
	}
	wb, err := s.newDumb(s.info.Width, s.info.Height)
	if err != nil {
		return Buffer{}, err
	}
	defer s.freeDumb(&wb)
	fence := new(int32)
	*fence = -1
	wbCRTC, wbFB, wbFence := s.wbProps["CRTC_ID"], s.wbProps["WRITEBACK_FB_ID"], s.wbProps["WRITEBACK_OUT_FENCE_PTR"]
	fptr := uint64(uintptr(unsafe.Pointer(fence)))
	crtc := uint64(s.info.CRTC)
	// First choice: the writeback connector clones the CRTC beside the
	// output, which keeps showing.
	err = s.atomic([]uint32{s.wbConn}, []uint32{3}, []uint32{wbCRTC, wbFB, wbFence}, []uint64{crtc, uint64(wb.fb), fptr})
	restore := func() { _ = s.atomic([]uint32{s.wbConn}, []uint32{2}, []uint32{wbCRTC, wbFB}, []uint64{0, 0}) }
	if errors.Is(err, syscall.EINVAL) && s.connCRTCProp != 0 {
		// Encoders that may not clone (every encoder's possible_clones is
		// itself unless the driver says otherwise, and 6.1.19x checks it:
		// drm_atomic_check_valid_clones, which vkms fails): the output
		// connector leaves the CRTC for the capture. The CRTC keeps
		// composing the same planes, so the picture read back is still
		// what the output shows.
		err = s.atomic([]uint32{s.conn, s.wbConn}, []uint32{1, 3}, []uint32{s.connCRTCProp, wbCRTC, wbFB, wbFence},
			[]uint64{0, crtc, uint64(wb.fb), fptr})
		restore = func() {
			_ = s.atomic([]uint32{s.wbConn, s.conn}, []uint32{2, 1}, []uint32{wbCRTC, wbFB, s.connCRTCProp}, []uint64{0, 0, crtc})
		}
	}
	runtime.KeepAlive(fence)
	if err != nil {
		return Buffer{}, fmt.Errorf("drm: writeback commit: %w", err)
	}
	// Detach afterwards: the writeback connector must not hold our CRTC
	// or the freed framebuffer.
	defer restore()
	if *fence < 0 {
		return Buffer{}, fmt.Errorf("drm: writeback commit gave no fence")
	}
	defer unix.Close(int(*fence))
	pfd := []unix.PollFd{{Fd: *fence, Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, int(timeout/time.Millisecond))
	if err != nil {
		return Buffer{}, wrap("poll fence", err)
	}
	if n == 0 {
		return Buffer{}, fmt.Errorf("%w: writeback fence", ErrTimeout)
	}
	out := make([]byte, wb.pitch*s.info.Height)
	copy(out, wb.mem)
	return Buffer{Pix: out, Stride: wb.pitch, Width: s.info.Width, Height: s.info.Height}, nil
}

func (s *Screen) atomic(objs, counts, ids []uint32, vals []uint64) error {
	req := atomicReq{Flags: atomicAllowModeset, CountObjs: uint32(len(objs)), ObjsPtr: ptr(objs),
		CountPropsPtr: ptr(counts), PropsPtr: ptr(ids), PropValsPtr: ptr(vals)}
	err := s.ioctl(ioctlModeAtomic, unsafe.Pointer(&req))
	runtime.KeepAlive(objs)
	runtime.KeepAlive(counts)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(vals)
	if err != nil {
		return wrap("MODE_ATOMIC", err)
	}
	return nil
}
