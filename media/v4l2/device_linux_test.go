//go:build linux && (amd64 || arm64 || arm)

package v4l2

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestFileOnNonV4L2Node drives the real ioctl path against /dev/null: every
// V4L2 ioctl must come back as ENOTTY (not a crash, not EFAULT from a bad
// pointer). Under qemu-user (Debian 12's qemu 7.2) ioctls missing from
// qemu's translation table, V4L2's among them, fail with ENOSYS before
// reaching the kernel, so there ENOSYS is accepted too: real V4L2 ioctls on
// arm need a qemu-system guest (the rig).
func TestFileOnNonV4L2Node(t *testing.T) {
	if _, err := Open("/nonexistent/video0"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Open missing node: %v", err)
	}
	d, err := Open("/dev/null")
	if err != nil {
		t.Skipf("cannot open /dev/null: %v", err)
	}
	var planes [1]Plane
	calls := []struct {
		name string
		fn   func() error
	}{
		{"QUERYCAP", func() error { return d.QueryCap(&Capability{}) }},
		{"G_FMT", func() error { return d.GetFormat(&Format{Type: BufTypeVideoCaptureMPlane}) }},
		{"REQBUFS", func() error { return d.ReqBufs(&RequestBuffers{Type: BufTypeVideoOutputMPlane, Memory: MemoryMMAP}) }},
		{"QBUF mplane", func() error { return d.QBuf(&Buffer{Type: BufTypeVideoOutputMPlane}, planes[:]) }},
		{"DQBUF", func() error { return d.DQBuf(&Buffer{Type: BufTypeVideoCapture}, nil) }},
		{"S_EXT_CTRLS", func() error { return d.SetControls(&ExtControls{}, make([]ExtControl, 2)) }},
		{"ENCODER_CMD", func() error { return d.EncoderCmd(&EncoderCmd{Cmd: EncCmdStop}) }},
		{"DQEVENT", func() error { return d.DQEvent(&Event{}) }},
		{"STREAMON", func() error { return d.StreamOn(BufTypeVideoCapture) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(); !errors.Is(err, syscall.ENOTTY) && !errors.Is(err, syscall.ENOSYS) {
				t.Fatalf("%s on /dev/null: %v, want ENOTTY", c.name, err)
			}
		})
	}
	if err := d.QBuf(&Buffer{Type: BufTypeVideoOutputMPlane}, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("mplane QBUF without planes: %v, want EINVAL", err)
	}
	// /dev/null is always writable and readable: poll returns at once.
	if r, err := d.Poll(PollIn|PollOut, time.Second); err != nil || r&PollOut == 0 {
		t.Errorf("Poll: %#x %v", r, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("second Close: %v", err)
	}
}
