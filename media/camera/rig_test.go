//go:build rig && linux

package camera

// Real-kernel tests against vivid (the virtual video test driver), run in
// the emulated-board rig:
//
//	modprobe vivid n_devs=1 node_types=0x1
//	go test -tags rig ./media/camera
//
// They find vivid's capture node by driver name, stream each raw format
// vivid offers, and use vivid's "Disconnect" control to simulate a USB
// unplug while streaming.

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"tether/media/v4l2"
)

// vividCIDDisconnect is VIVID_CID_DISCONNECT (drivers/media/test-drivers/
// vivid/vivid-ctrls.c: VIVID_CID_VIVID_BASE + 65, with VIVID_CID_VIVID_BASE
// = 0x00f00000 | 0xf000).
const vividCIDDisconnect = 0x00f0f000 + 65

func findVivid(t *testing.T) string {
	paths, _ := filepath.Glob("/dev/video*")
	sort.Strings(paths)
	for _, p := range paths {
		d, err := v4l2.Open(p)
		if err != nil {
			continue
		}
		var c v4l2.Capability
		err = d.QueryCap(&c)
		d.Close()
		if err == nil && c.DriverName() == "vivid" && c.Caps()&v4l2.CapVideoCapture != 0 {
			return p
		}
	}
	t.Skip("no vivid capture node (modprobe vivid)")
	return ""
}

func TestRigVividFormats(t *testing.T) {
	path := findVivid(t)
	for _, pix := range []uint32{v4l2.PixFmtYUYV, v4l2.PixFmtNV12, v4l2.PixFmtYUV420} {
		t.Run(v4l2.FourccString(pix), func(t *testing.T) {
			c, err := Open(Config{Path: path, Width: 640, Height: 480, FPS: 30, Formats: []uint32{pix}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, w, h := c.Format()
			if got != pix || w != 640 || h != 480 {
				t.Fatalf("negotiated %s %dx%d", v4l2.FourccString(got), w, h)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var last uint32
			for i := 0; i < 30; i++ {
				f, err := c.ReadFrame(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Data) != packedSize(pix, w, h) {
					t.Fatalf("frame %d: %d bytes", i, len(f.Data))
				}
				if i > 0 && f.Sequence <= last {
					t.Fatalf("sequence went %d -> %d", last, f.Sequence)
				}
				last = f.Sequence
			}
		})
	}
}

func TestRigVividDisconnect(t *testing.T) {
	path := findVivid(t)
	c, err := Open(Config{Path: path, Width: 640, Height: 480, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ReadFrame(ctx); err != nil {
		t.Fatal(err)
	}
	ctl, err := v4l2.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.SetControl(&v4l2.Control{ID: vividCIDDisconnect}); err != nil {
		t.Skipf("vivid Disconnect control: %v", err)
	}
	for {
		_, err := c.ReadFrame(ctx)
		if errors.Is(err, ErrGone) {
			return
		}
		if err != nil {
			t.Fatalf("after disconnect: %v, want ErrGone", err)
		}
	}
}
