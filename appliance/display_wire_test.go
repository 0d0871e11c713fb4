//go:build cgo

package appliance

// Issue 15 §4–5 wired: the customer's H.264 track reaches the display
// through the appliance (peer.Config.OnTrack -> Run -> Display), the
// display's keyframe request becomes an RTCP PLI the customer's sender
// receives (and answers), the status screen follows the appliance's state,
// and the display is a listed device whose absence is a fault only when a
// card was named.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/internal/testenv"
	"tether/media"
	"tether/media/display"
	"tether/media/drm"
	"tether/media/swenc"
	"tether/media/testsrc"
	"tether/signaling"
	"tether/signaling/socketio"
)

// memScreen is a screen in memory (two XRGB buffers); opens counts how
// often the display opened it.
type memScreen struct {
	opens    atomic.Int32
	presents atomic.Int32
	mu       sync.Mutex
	bufs     [2][]byte
	front    int
}

func (s *memScreen) open() (display.Screen, error) {
	s.opens.Add(1)
	s.mu.Lock()
	s.bufs[0], s.bufs[1] = make([]byte, 4*320*240), make([]byte, 4*320*240)
	s.mu.Unlock()
	return s, nil
}

func (s *memScreen) Info() drm.Info {
	return drm.Info{Path: "mem", Width: 320, Height: 240, Refresh: 60}
}
func (s *memScreen) Back() drm.Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return drm.Buffer{Pix: s.bufs[1-s.front], Stride: 4 * 320, Width: 320, Height: 240}
}
func (s *memScreen) Present() error {
	s.mu.Lock()
	s.front = 1 - s.front
	s.mu.Unlock()
	s.presents.Add(1)
	return nil
}
func (s *memScreen) Close() error { return nil }

// statusScreen records the status texts the appliance sends its screen.
type statusScreen struct {
	screenOut
	mu    sync.Mutex
	texts []string
}

func (s *statusScreen) SetStatus(lines ...string) {
	s.mu.Lock()
	s.texts = append(s.texts, strings.Join(lines, "\n"))
	s.mu.Unlock()
	s.screenOut.SetStatus(lines...)
}

func (s *statusScreen) showing(first string) func() bool {
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.texts) > 0 && strings.HasPrefix(s.texts[len(s.texts)-1], first)
	}
}

// plisTo is the WebRTC layer as the display's keyframe requests see it,
// with the PLI written on the test's appliance-side PeerConnection (the
// real peer has no call here: no hub). peer.Peer's own
// RequestCustomerKeyframe is tested in appliance/peer.
type plisTo struct {
	callPeer
	side atomic.Pointer[webrtc.PeerConnection]
}

func (p *plisTo) RequestCustomerKeyframe(ssrc uint32) {
	if pc := p.side.Load(); pc != nil {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// videoCustomer sends the test pattern as H.264 (openh264), withholding
// its first keyframe: the display can show nothing until it asks for one
// (PLI), which the customer answers with a forced IDR, as a browser does.
func videoCustomer(t *testing.T, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*webrtc.PeerConnection, *atomic.Int32) {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "customer")
	if err != nil {
		t.Fatal(err)
	}
	sender, side, closeCall := pionCall(t, onTrack, track)
	plis := &atomic.Int32{}
	var skipped atomic.Bool
	enc, err := swenc.NewH264(swenc.Config{Width: 320, Height: 240, FrameRate: 15, Bitrate: 300_000, KeyframeInterval: 100000,
		Sink: func(au swenc.AccessUnit) {
			if au.Keyframe && !skipped.Load() {
				skipped.Store(true) // joined mid-GOP, as far as the display can tell
				return
			}
			_ = track.WriteSample(pmedia.Sample{Data: au.Data, Duration: time.Second / 15})
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // the customer's sender answers PLIs with an IDR
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					plis.Add(1)
					enc.ForceKeyframe()
				}
			}
		}
	}()
	go func() {
		defer close(done)
		pat, err := testsrc.NewPattern(320, 240)
		if err != nil {
			t.Error(err)
			return
		}
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = enc.Encode(context.Background(), swenc.Frame{Data: pat.Render(i, time.Now())})
		}
	}()
	t.Cleanup(func() { close(stop); <-done; closeCall(); enc.Close() })
	return side, plis
}

// TestCustomerVideoReachesDisplay: status texts follow the appliance's
// state (login needed, waiting, reconnecting, in a call); the customer's
// video track is shown once the display's keyframe request (a PLI the
// customer received) brought an IDR; the call's end detaches it without
// reopening the screen; the display is a listed, working device.
func TestCustomerVideoReachesDisplay(t *testing.T) {
	scr := &memScreen{}
	var onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	a := testApp(t, Deps{OpenScreen: scr.open, PeerConfig: func(c *peer.Config) { onTrack = c.OnTrack }},
		"-camera", "test", "-mic", "test", "-speaker", "none", "-display", "/dev/dri/card9")
	if a.screen == nil {
		t.Fatal("no display built")
	}
	st := &statusScreen{screenOut: a.screen}
	a.screen = st
	pli := &plisTo{callPeer: a.peer}
	a.peer = pli
	runApp(t, a)

	// No session: login needed.
	testenv.Eventually(t, 10*time.Second, "login needed on screen", st.showing(screenLogin))
	// The socket connects and the hub takes the session: waiting.
	a.q.post(evSocketStatus{socketio.Status{State: socketio.Connected}})
	a.q.post(evVerified{signaling.VerifyReply{}})
	testenv.Eventually(t, 15*time.Second, "waiting on screen", st.showing(screenWaiting))
	// The socket drops: reconnecting; back: waiting.
	a.q.post(evSocketStatus{socketio.Status{State: socketio.Backoff}})
	testenv.Eventually(t, 10*time.Second, "reconnecting on screen", st.showing(screenReconnecting))
	a.q.post(evSocketStatus{socketio.Status{State: socketio.Connected}})
	testenv.Eventually(t, 10*time.Second, "waiting again", st.showing(screenWaiting))

	// A customer's call: their video reaches the screen.
	a.q.post(evPeerState{peer.Waiting, peer.Negotiating})
	testenv.Eventually(t, 10*time.Second, "in a call on screen", st.showing(screenInCall))
	side, plis := videoCustomer(t, onTrack)
	pli.side.Store(side)
	testenv.Eventually(t, 30*time.Second, "the customer's pictures on screen", func() bool { return a.screen.Status().Shown >= 5 })
	ds := a.screen.Status()
	if !ds.Customer || ds.KeyframeRequests == 0 || plis.Load() == 0 {
		t.Fatalf("display %+v, PLIs the customer received %d", ds, plis.Load())
	}
	if d := a.Health().Snapshot().Media.Device(media.DeviceDisplay); d.State != media.SourceOK {
		t.Fatalf("display device %+v", d)
	}
	if d := a.MediaStatus().Devices(); len(d) != 4 || d[3].Name != media.DeviceDisplay || d[3].Down() {
		t.Fatalf("devices %+v", d)
	}

	// The call ends: the status screen is back, the screen stays open.
	a.q.post(evPeerState{peer.Negotiating, peer.Waiting})
	testenv.Eventually(t, 10*time.Second, "the customer detached", func() bool { return !a.screen.Status().Customer })
	testenv.Eventually(t, 10*time.Second, "waiting after the call", st.showing(screenWaiting))
	if n := scr.opens.Load(); n != 1 {
		t.Fatalf("the screen was opened %d times, want 1", n)
	}
}

// TestMissingDisplay: a display named by card that is not there is the
// no-display state, listed by name on device:status and metrics; with
// "display auto" the same absence is no fault (a headless counter), and
// with "display none" nothing is built at all.
func TestMissingDisplay(t *testing.T) {
	absent := func() (display.Screen, error) { return nil, errors.Join(drm.ErrNoDisplay, errors.New("card9")) }
	a := testApp(t, Deps{OpenScreen: absent}, "-camera", "test", "-mic", "test", "-speaker", "none", "-display", "/dev/dri/card9")
	runApp(t, a)
	snap := waitState(t, a, health.StateNoDisplay)
	if d := snap.Media.Device(media.DeviceDisplay); d.State != media.SourceMissing || !strings.Contains(snap.Reason, "display missing") {
		t.Fatalf("display device %+v, reason %q", d, snap.Reason)
	}
	if ms := a.deviceStatus().(map[string]any)["media"].(map[string]any); ms["display"] != "missing" {
		t.Fatalf("device:status media %+v", ms)
	}
	_, body := get(t, a.MetricsHandler(), "/metrics")
	for _, want := range []string{`tether_media_device_up{device="display"} 0`, `tether_state{state="no-display"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	b := testApp(t, Deps{OpenScreen: absent}, "-camera", "test", "-mic", "test", "-speaker", "none", "-display", "auto")
	runApp(t, b)
	testenv.Eventually(t, 10*time.Second, "auto without a screen listed as off", func() bool {
		return b.Health().Snapshot().Media.Device(media.DeviceDisplay).State == media.SourceOff
	})
	waitState(t, b, health.StateLoginNeeded) // no session here: that, not a device fault
	if b.screenOpen() {
		t.Fatal("a customer's video would be decoded for an absent screen")
	}

	c := testApp(t, Deps{}, "-camera", "test", "-mic", "test", "-speaker", "none", "-display", "none")
	if c.screen != nil {
		t.Fatal("display none built a display")
	}
	if d := c.MediaStatus().Devices(); d[len(d)-1] != (media.Device{Name: media.DeviceDisplay, State: media.SourceOff, Error: "no display configured"}) {
		t.Fatalf("display none: devices %+v", d)
	}
}
