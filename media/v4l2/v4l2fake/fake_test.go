package v4l2fake

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"tether/media/v4l2"
)

// TestFakeProtocol walks the stateful encoder flow by hand against the fake,
// the way dev-encoder.rst describes it, so the fake's own semantics are
// pinned independently of the encoder package.
func TestFakeProtocol(t *testing.T) {
	for _, mp := range []bool{true, false} {
		name := "single"
		if mp {
			name = "mplane"
		}
		t.Run(name, func(t *testing.T) {
			f := NewFake()
			f.MPlane = mp
			out, capt := f.types()
			var c v4l2.Capability
			if err := f.QueryCap(&c); err != nil || c.DriverName() != "fake-m2m" {
				t.Fatalf("QUERYCAP: %v %q", err, c.DriverName())
			}
			wantCap := uint32(v4l2.CapVideoM2M)
			if mp {
				wantCap = v4l2.CapVideoM2MMPlane
			}
			if c.Caps()&wantCap == 0 {
				t.Fatalf("caps %#x", c.Caps())
			}
			d := v4l2.FmtDesc{Type: capt}
			if err := f.EnumFmt(&d); err != nil || d.PixelFormat != v4l2.PixFmtH264 {
				t.Fatalf("ENUM_FMT: %v %s", err, v4l2.FourccString(d.PixelFormat))
			}
			d.Index = 1
			if err := f.EnumFmt(&d); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("ENUM_FMT past the end: %v", err)
			}
			var planes [1]v4l2.Plane
			mk := func(tp v4l2.BufType, n uint32) [][]byte {
				r := v4l2.RequestBuffers{Count: n, Type: tp, Memory: v4l2.MemoryMMAP}
				if err := f.ReqBufs(&r); err != nil || r.Count != n {
					t.Fatalf("REQBUFS: %v %d", err, r.Count)
				}
				var maps [][]byte
				for i := uint32(0); i < n; i++ {
					b := v4l2.Buffer{Index: i, Type: tp, Memory: v4l2.MemoryMMAP}
					if err := f.QueryBuf(&b, planes[:]); err != nil {
						t.Fatal(err)
					}
					off, ln := int64(b.Offset()), int(b.Length)
					if mp {
						off, ln = int64(planes[0].MemOffset()), int(planes[0].Length)
					}
					m, err := f.Mmap(off, ln)
					if err != nil {
						t.Fatalf("mmap: %v", err)
					}
					maps = append(maps, m)
				}
				return maps
			}
			outMem, capMem := mk(out, 2), mk(capt, 2)
			if f.Mapped() != 4 {
				t.Fatalf("mapped %d", f.Mapped())
			}
			qbuf := func(tp v4l2.BufType, i uint32, used uint32, ts v4l2.Timeval) error {
				b := v4l2.Buffer{Index: i, Type: tp, Memory: v4l2.MemoryMMAP, BytesUsed: used, Timestamp: ts}
				planes[0] = v4l2.Plane{BytesUsed: used}
				return f.QBuf(&b, planes[:])
			}
			dq := func(tp v4l2.BufType) (v4l2.Buffer, v4l2.Plane, error) {
				b := v4l2.Buffer{Type: tp, Memory: v4l2.MemoryMMAP}
				planes[0] = v4l2.Plane{}
				err := f.DQBuf(&b, planes[:])
				return b, planes[0], err
			}
			for i := uint32(0); i < 2; i++ {
				if err := qbuf(capt, i, 0, v4l2.Timeval{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.StreamOn(capt); err != nil {
				t.Fatal(err)
			}
			if err := f.StreamOn(out); err != nil {
				t.Fatal(err)
			}
			if _, _, err := dq(capt); !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("DQBUF on empty queue: %v, want EAGAIN", err)
			}
			if r, _ := f.Poll(v4l2.PollIn|v4l2.PollOut, time.Millisecond); r != 0 {
				t.Fatalf("poll ready %#x with nothing queued", r)
			}
			outMem[0][0] = 42
			if err := qbuf(out, 0, uint32(len(outMem[0])), v4l2.Timeval{Sec: 7, Usec: 9}); err != nil {
				t.Fatal(err)
			}
			if r, _ := f.Poll(v4l2.PollIn|v4l2.PollOut, time.Second); r != v4l2.PollIn|v4l2.PollOut {
				t.Fatalf("poll %#x, want IN|OUT", r)
			}
			b, p, err := dq(capt)
			if err != nil {
				t.Fatal(err)
			}
			used := b.BytesUsed
			if mp {
				used = p.BytesUsed
			}
			au := capMem[b.Index][:used]
			if b.Flags&v4l2.BufFlagKeyframe == 0 || b.Timestamp != (v4l2.Timeval{Sec: 7, Usec: 9}) {
				t.Fatalf("first unit flags %#x ts %+v", b.Flags, b.Timestamp)
			}
			if au[4]&0x1f != 7 { // SPS first
				t.Fatalf("first NAL type %d", au[4]&0x1f)
			}
			// Controls: one unknown ID fails the whole call and names itself.
			ctrls := []v4l2.ExtControl{{ID: v4l2.CIDMPEGVideoBitrate}, {ID: 0x00991234}}
			ctrls[0].SetValue(123456)
			ec := v4l2.ExtControls{}
			if err := f.SetControls(&ec, ctrls); !errors.Is(err, syscall.EINVAL) || ec.ErrorIdx != 1 {
				t.Fatalf("S_EXT_CTRLS: %v idx %d", err, ec.ErrorIdx)
			}
			if v, _ := f.Control(v4l2.CIDMPEGVideoBitrate); v == 123456 {
				t.Fatal("failed S_EXT_CTRLS applied a control")
			}
			// Drain: STOP with nothing queued gives an empty LAST buffer, then EPIPE.
			if err := f.EncoderCmd(&v4l2.EncoderCmd{Cmd: v4l2.EncCmdStop}); err != nil {
				t.Fatal(err)
			}
			b, p, err = dq(capt)
			if err != nil || b.Flags&v4l2.BufFlagLast == 0 {
				t.Fatalf("drain: %v flags %#x", err, b.Flags)
			}
			if _, _, err := dq(capt); !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("DQBUF after LAST: %v, want EPIPE", err)
			}
			if err := f.StreamOff(capt); err != nil {
				t.Fatal(err)
			}
			for _, m := range append(outMem, capMem...) {
				if err := f.Munmap(m); err != nil {
					t.Fatal(err)
				}
			}
			f.Vanish()
			if err := f.QueryCap(&c); !errors.Is(err, syscall.ENODEV) {
				t.Fatalf("after Vanish: %v", err)
			}
			if r, _ := f.Poll(v4l2.PollIn, time.Second); r&v4l2.PollErr == 0 {
				t.Fatalf("poll after Vanish %#x", r)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	var c v4l2.ExtControl
	c.SetValue64(-5_000_000_000)
	if c.Value64() != -5_000_000_000 {
		t.Errorf("Value64 %d", c.Value64())
	}
	c.SetValue(-3)
	if c.Value() != -3 || c.Value64() != 0xfffffffd {
		t.Errorf("Value %d Value64 %#x", c.Value(), c.Value64())
	}
	var p v4l2.Plane
	p.SetFD(17)
	if p.FD() != 17 {
		t.Errorf("plane fd %d", p.FD())
	}
	if v4l2.FourccString(v4l2.PixFmtH264) != "H264" || v4l2.FourccString(0) != "????" {
		t.Error("FourccString")
	}
	if v4l2.BufTypeVideoOutputMPlane.String() != "OUTPUT_MPLANE" || v4l2.BufType(77).String() != "BufType(77)" {
		t.Error("BufType.String")
	}
	var f v4l2.Format
	f.Type = v4l2.BufTypeVideoCaptureMPlane
	f.PixMP().PixelFormat = v4l2.PixFmtNV12
	if f.Pix().PixelFormat != v4l2.PixFmtNV12 { // same offset in the union
		t.Error("format union views disagree")
	}
}
