//go:build cgo

package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"tether/media/h264"
	"tether/media/testsrc"
	"tether/media/v4l2"
)

// startSoftwarePipeline runs the test pattern and tone through openh264 and
// Opus on the real clock.
func startSoftwarePipeline(tb testing.TB, w, h int) (*Pipeline, func()) {
	tb.Helper()
	p, err := New(Config{Width: w, Height: h, FPS: 30, Bitrate: 1_000_000, TestVideo: true, TestAudio: true,
		Encoder: EncoderSoftwareOnly, KeyframeInterval: time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
}

// TestPionLoopback is the end-to-end proof: test pattern -> openh264 ->
// shared track -> RTP over loopback UDP -> pion receiver, with frames
// counted, a PLI answered by an IDR, a second customer on the same tracks,
// and (with ffmpeg) the stamps read back from the received stream.
func TestPionLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time WebRTC loopback; skipped in -short")
	}
	const w, h = 640, 360
	p, stop := startSoftwarePipeline(t, w, h)
	defer stop()
	lp := newLoopbackPair(t, p)
	defer lp.close()

	first := lp.next(t, 10*time.Second)
	if !first.key {
		// The receiver may join after the first IDR; ask for one.
		lp.pli(t, <-lp.videoSSRC)
		for first = lp.next(t, 2*time.Second); !first.key; first = lp.next(t, 2*time.Second) {
		}
	} else {
		<-lp.videoSSRC
	}
	var stream bytes.Buffer
	stream.Write(first.data)
	recvAt := []time.Time{first.at}
	n, keys := 1, 0
	for n < 60 {
		u := lp.next(t, 2*time.Second)
		n++
		if u.key {
			keys++
		}
		stream.Write(u.data)
		recvAt = append(recvAt, u.at)
	}
	if keys != 0 {
		t.Fatalf("%d unrequested keyframes in 60 frames (interval is 1 min)", keys)
	}
	st := p.Status()
	if st.Encoder != EncoderSoftware || st.Camera != SourceTest || st.Mic != SourceTest {
		t.Fatalf("status %+v", st)
	}

	// PLI -> IDR, five times.
	ssrc := webrtc.SSRC(0)
	for _, tr := range lp.recv.GetTransceivers() {
		if r := tr.Receiver(); r != nil && r.Track() != nil && r.Track().Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = r.Track().SSRC()
		}
	}
	var lat []time.Duration
	for i := 0; i < 5; i++ {
		lp.drain()
		t0 := time.Now()
		lp.pli(t, ssrc)
		for frames := 0; ; frames++ {
			u := lp.next(t, 2*time.Second)
			if u.key {
				if in := h264.Scan(u.data); !in.SPS || !in.PPS {
					t.Fatalf("IDR after PLI lacks SPS/PPS: %+v", in)
				}
				lat = append(lat, u.at.Sub(t0))
				break
			}
			if frames > 2 { // one frame may already be in flight
				t.Fatalf("no IDR within %d frames of a PLI", frames)
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("PLI -> IDR received: min %v median %v max %v (frame interval 33ms)", lat[0], lat[2], lat[4])

	// A second customer on the same tracks: no re-open, an IDR on request.
	before := p.Status()
	lp2 := newLoopbackPair(t, p)
	lp2ssrc := <-lp2.videoSSRC
	lp2.pli(t, lp2ssrc)
	for u := lp2.next(t, 5*time.Second); !u.key; u = lp2.next(t, 2*time.Second) {
	}
	lp2.close()
	after := p.Status()
	if after.Encoder != EncoderSoftware || after.Camera != SourceTest || after.Dropped != before.Dropped {
		t.Fatalf("second customer disturbed the pipeline: %+v -> %+v", before, after)
	}
	select {
	case <-lp.audio:
	case <-time.After(2 * time.Second):
		t.Fatal("no Opus packet received")
	}
	if st := p.Status(); st.AudioPackets == 0 {
		t.Fatalf("no audio packets written: %+v", st)
	}

	// Read the stamps back from the received H.264 with ffmpeg: the
	// capture-to-receive latency through encoder, packetizer and UDP.
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Log("ffmpeg not installed; stamp read-back skipped")
		return
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "rx.h264"), filepath.Join(dir, "rx.yuv")
	if err := os.WriteFile(in, stream.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(ffmpeg, "-v", "error", "-f", "h264", "-i", in, "-f", "rawvideo", "-pix_fmt", "yuv420p", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	yuv, _ := os.ReadFile(out)
	fs := w * h * 3 / 2
	if len(yuv)/fs != len(recvAt) {
		t.Fatalf("ffmpeg decoded %d frames of %d received", len(yuv)/fs, len(recvAt))
	}
	var g2g []time.Duration
	for i := range recvAt {
		ms, err := testsrc.Decode(yuv[i*fs:], w, w)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		g2g = append(g2g, recvAt[i].Sub(time.UnixMilli(int64(ms))))
	}
	sort.Slice(g2g, func(i, j int) bool { return g2g[i] < g2g[j] })
	t.Logf("capture -> received (stamp read back): median %v, p90 %v over %d frames", g2g[len(g2g)/2], g2g[len(g2g)*9/10], len(g2g))
}

// BenchmarkKeyframeLatencyPLI measures PLI sent -> IDR received over the
// loopback pair at 640x360@30 (software path); the frame interval (33 ms)
// bounds the wait for the next frame.
func BenchmarkKeyframeLatencyPLI(b *testing.B) {
	p, stop := startSoftwarePipeline(b, 640, 360)
	defer stop()
	lp := newLoopbackPair(b, p)
	defer lp.close()
	ssrc := <-lp.videoSSRC
	var total, sender time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lp.drain()
		t0 := time.Now()
		lp.pli(b, ssrc)
		for u := lp.next(b, 2*time.Second); !u.key; u = lp.next(b, 2*time.Second) {
		}
		total += time.Since(t0)
		sender += p.Status().KeyframeLatency
	}
	// ms/keyframe includes pion's samplebuilder, which releases a frame
	// only when the next one starts (one frame interval); sender-ms is
	// RequestKeyframe -> IDR written to the track.
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/keyframe")
	b.ReportMetric(float64(sender.Microseconds())/float64(b.N)/1000, "sender-ms/keyframe")
}

// BenchmarkSoftware720p is CPU per 720p30 frame on the software path:
// pattern, openh264 (1 thread, 2 Mbit/s), sample write to the unbound
// track.
func BenchmarkSoftware720p(b *testing.B) {
	p, vs := benchPipeline(b, SoftwareEncoder())
	p.SetBitrate(2_000_000)
	benchFrames(b, p, vs, v4l2.PixFmtYUV420, 0)
}
