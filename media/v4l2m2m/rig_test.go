//go:build rig && linux

// Real-kernel tests, run inside the emulated-board rig (a qemu guest with
// vicodec loaded: `modprobe vicodec multiplanar=1`, or without the option for
// the single-planar API, which the encoder handles too). vicodec's stateful
// encoder emits FWHT, not H.264, and has no H.264 controls, so this also
// exercises the "unsupported control: log and skip" paths against a real
// driver. Run with: go test -tags rig ./media/...

package v4l2m2m

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/media/v4l2"
)

// vicodecEncoder finds vicodec's stateful encoder node: driver "vicodec"
// (vicodec-core.c sets driver and card to VICODEC_NAME for all its nodes)
// whose CAPTURE queue offers FWHT.
func vicodecEncoder(t *testing.T) string {
	t.Helper()
	info, err := Find(v4l2.PixFmtFWHT, "vicodec")
	if err != nil {
		paths, _ := filepath.Glob("/dev/video*")
		sort.Strings(paths)
		t.Skipf("no vicodec encoder node (%v; nodes %v): load it with `modprobe vicodec`", err, paths)
	}
	t.Logf("vicodec encoder at %s (mplane %v, raw %d formats)", info.Path, info.MPlane, len(info.Raw))
	return info.Path
}

func TestRigABI(t *testing.T) {
	path := vicodecEncoder(t)
	dev, err := v4l2.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	var c v4l2.Capability
	if err := dev.QueryCap(&c); err != nil {
		t.Fatalf("VIDIOC_QUERYCAP: %v", err)
	}
	if c.DriverName() != "vicodec" || !strings.HasPrefix(string(c.BusInfo[:9]), "platform:") {
		t.Errorf("QUERYCAP driver %q bus %q: struct layout off?", c.DriverName(), c.BusInfo)
	}
	info, err := Probe(dev, v4l2.PixFmtFWHT)
	if err != nil {
		t.Fatal(err)
	}
	hasYU12 := false
	for _, f := range info.Raw {
		hasYU12 = hasYU12 || f == v4l2.PixFmtYUV420
	}
	if !hasYU12 {
		t.Errorf("vicodec OUTPUT formats lack YU12: %v", info.Raw)
	}
}

func TestRigEncode(t *testing.T) {
	path := vicodecEncoder(t)
	var mu sync.Mutex
	var units []AccessUnit
	got := make(chan struct{}, 256)
	enc, err := New(Config{
		Open:        OpenPath(path),
		Width:       640, // vicodec's minimum size is 640x360 (640x480 on old kernels)
		Height:      480,
		PixelFormat: v4l2.PixFmtYUV420,
		CodedFormat: v4l2.PixFmtFWHT,
		FrameRate:   30,
		Bitrate:     1_000_000,
		Sink: func(au AccessUnit) {
			mu.Lock()
			units = append(units, AccessUnit{Timestamp: au.Timestamp, Keyframe: au.Keyframe, Sequence: au.Sequence, Data: append([]byte(nil), au.Data...)})
			mu.Unlock()
			got <- struct{}{}
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- enc.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}()

	frame := make([]byte, 640*480*3/2)
	const n = 30
	for i := 0; i < n; i++ {
		for j := range frame[:640*480] {
			frame[j] = byte(i + j/640) // a moving gradient
		}
		switch i {
		case 10:
			enc.ForceKeyframe() // vicodec has no FORCE_KEY_FRAME: EINVAL, logged, skipped
		case 20:
			enc.SetBitrate(2_000_000) // likewise for BITRATE
		}
		ectx, ecancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := enc.Encode(ectx, Frame{Data: frame, Timestamp: time.Duration(i) * 33 * time.Millisecond})
		ecancel()
		if err != nil {
			t.Fatalf("Encode %d: %v", i, err)
		}
	}
	// Most units arrive while encoding; the rest come out of the drain.
	cancel()
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not drain and return")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(units) != n {
		t.Errorf("%d units for %d frames after drain", len(units), n)
	}
	for i, u := range units {
		if want := time.Duration(i) * 33 * time.Millisecond; u.Timestamp != want {
			t.Errorf("unit %d timestamp %v, want %v (TIMESTAMP_COPY)", i, u.Timestamp, want)
		}
		if len(u.Data) < 8 {
			t.Errorf("unit %d: %d bytes", i, len(u.Data))
		}
	}
	if len(units) > 0 {
		// Informational: whether vicodec flags FWHT I-frames is the
		// driver's business, not an ABI fact.
		t.Logf("first unit keyframe flag: %v", units[0].Keyframe)
	}
	st := enc.Stats()
	t.Logf("stats %+v", st)
}
