//go:build cgo

package appliance

// Issue 15 wired: the customer's Opus track reaches the speaker through
// the appliance (peer.Config.OnTrack -> Run -> Player), is cleared when
// the call ends and replaced at a customer change without reopening the
// speaker; the volume is live.

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/internal/testenv"
	"tether/media"
	"tether/media/swenc"
	"tether/media/testsrc"
)

// recSpeaker is a sound card on the real clock (testsrc.Speaker) that
// keeps the last 10 s played.
type recSpeaker struct{ testsrc.Speaker }

func newRecSpeaker() *recSpeaker { return &recSpeaker{testsrc.Speaker{Keep: 10 * testsrc.SampleRate}} }

func (r *recSpeaker) open() (media.AudioSink, error) { return r.Open() }

// heard reports whether the last second played holds the customer's
// 440 Hz beep (a 50 ms window loud and at the tone).
func (r *recSpeaker) heard() bool {
	pcm, _ := r.Played(time.Second)
	for off := 0; off+2400 <= len(pcm); off += 2400 {
		w := pcm[off : off+2400]
		if testsrc.LevelDB(w) > -30 && testsrc.ToneDB(w, 440) > -3 {
			return true
		}
	}
	return false
}

// pionCustomer is a customer's browser stand-in on loopback: a pion
// PeerConnection that offers its microphone (the test beep, Opus) to an
// appliance-side pion PeerConnection whose OnTrack is the appliance's
// (peer.Config.OnTrack). It does not depend on the direction of the
// appliance's own offers (the customer offers here).
func pionCustomer(t *testing.T, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (hangUp func()) {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "customer")
	if err != nil {
		t.Fatal(err)
	}
	_, _, closeCall := pionCall(t, onTrack, track)
	enc, err := swenc.NewOpus(swenc.OpusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer enc.Close()
		tone := testsrc.NewTone(440, time.Now())
		pcm, out := make([]int16, 960), make([]byte, swenc.OpusMaxPacket)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			tone.Read(pcm)
			n, err := enc.Encode(pcm, out)
			if err == nil {
				_ = track.WriteSample(pmedia.Sample{Data: out[:n], Duration: 20 * time.Millisecond})
			}
		}
	}()
	var once sync.Once
	hangUp = func() {
		once.Do(func() {
			close(stop)
			<-done
			closeCall()
		})
	}
	t.Cleanup(hangUp)
	return hangUp
}

// pionCall connects a customer's PeerConnection sending track to an
// appliance-side one whose OnTrack is onTrack, on loopback; it returns the
// customer's sender of track, the appliance side (its WriteRTCP reaches
// the customer) and a close for both.
func pionCall(t *testing.T, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver), track webrtc.TrackLocal) (
	*webrtc.RTPSender, *webrtc.PeerConnection, func()) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	cust, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	side, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	side.OnTrack(onTrack)
	sender, err := cust.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	settle := func(pc *webrtc.PeerConnection, d webrtc.SessionDescription) webrtc.SessionDescription {
		done := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(d); err != nil {
			t.Fatal(err)
		}
		<-done
		return *pc.LocalDescription()
	}
	offer, err := cust.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := side.SetRemoteDescription(settle(cust, offer)); err != nil {
		t.Fatal(err)
	}
	answer, err := side.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cust.SetRemoteDescription(settle(side, answer)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { cust.Close(); side.Close() }) }
	t.Cleanup(closeBoth)
	return sender, side, closeBoth
}

// TestCustomerAudioReachesSpeaker: a customer's Opus track, handed over by
// pion as the peer hands it (OnTrack), plays on the appliance's speaker;
// the call's end clears it (silence, device open); the next customer's
// track plays on the same open device; a volume change from the
// configuration reaches the player.
func TestCustomerAudioReachesSpeaker(t *testing.T) {
	spk := newRecSpeaker()
	// The track handler the WebRTC layer is given is what pion calls.
	var onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	a := testApp(t, Deps{OpenSpeaker: spk.open, PeerConfig: func(c *peer.Config) { onTrack = c.OnTrack }}, "-camera", "test", "-mic", "test")
	if onTrack == nil {
		t.Fatal("the WebRTC layer has no track handler: the customer's tracks would be dropped")
	}
	runApp(t, a)
	// The WebRTC layer is up and waiting (no hub here); a customer joins:
	// the transition the peer reports when it starts their call.
	testenv.Eventually(t, 15*time.Second, "peer waiting", func() bool { return a.Health().Snapshot().Peer.State == peer.Waiting })
	a.q.post(evPeerState{peer.Waiting, peer.Negotiating})

	pionCustomer(t, onTrack)
	testenv.Eventually(t, 20*time.Second, "the first customer's beep on the speaker", spk.heard)
	if st := a.speaker.Status(); !st.Customer || st.Packets == 0 || st.Speaker != media.SourceOK {
		t.Fatalf("speaker %+v", st)
	}

	// The call ends (the peer is back to waiting): the customer's audio
	// is detached and the speaker plays silence, still open.
	a.q.post(evPeerState{peer.Negotiating, peer.Waiting})
	testenv.Eventually(t, 10*time.Second, "the customer detached", func() bool { return !a.speaker.Status().Customer })
	testenv.Eventually(t, 10*time.Second, "silence after the call", func() bool { return !spk.heard() })

	// The next customer plays on the same device.
	a.q.post(evPeerState{peer.Waiting, peer.Negotiating})
	pionCustomer(t, onTrack)
	testenv.Eventually(t, 20*time.Second, "the next customer's beep on the speaker", spk.heard)
	if n := spk.Opens(); n != 1 {
		t.Fatalf("the speaker was opened %d times across a customer change, want 1", n)
	}

	// The volume is live: the reload posts it, Run applies it.
	next := a.cfg
	next.Volume = 35
	a.reload("SIGHUP", a.cfg, next, nil, new(slog.LevelVar))
	testenv.Eventually(t, 10*time.Second, "volume 35", func() bool { return a.speaker.Status().Volume == 35 })
}

// TestFailedSpeakerIsVisible: a configured speaker that is not there is
// the no-speaker state on every surface (health, LEDs, console line,
// device:status, metrics), listed by name; speaker=none is none of that.
func TestFailedSpeakerIsVisible(t *testing.T) {
	serial := &syncBuffer{}
	a := testApp(t, Deps{OpenSpeaker: func() (media.AudioSink, error) {
		return nil, media.ErrNoDevice
	}}, "-camera", "test", "-mic", "test", "-console", "-")
	a.deps.Extras = DefaultExtras(a.cfg, strings.NewReader(""), serial)
	runApp(t, a)
	snap := waitState(t, a, health.StateNoSpeaker)
	if !strings.Contains(snap.Reason, "speaker missing") {
		t.Fatalf("reason %q", snap.Reason)
	}
	if d := snap.Media.Device(media.DeviceSpeaker); d.State != media.SourceMissing {
		t.Fatalf("speaker device %+v", d)
	}
	if err := DefaultLEDScheme().Validate(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the console's no-speaker line", func() bool {
		return strings.Contains(serial.String(), "no-speaker (speaker missing") && strings.Contains(serial.String(), "| speaker missing")
	})
	var ds struct {
		Overall string            `json:"overall"`
		Media   map[string]string `json:"media"`
	}
	ds.Overall = a.deviceStatus().(map[string]any)["overall"].(string)
	for k, v := range a.deviceStatus().(map[string]any)["media"].(map[string]any) {
		if s, ok := v.(string); ok {
			if ds.Media == nil {
				ds.Media = map[string]string{}
			}
			ds.Media[k] = s
		}
	}
	if ds.Overall != "no-speaker" || ds.Media["speaker"] != "missing" {
		t.Fatalf("device:status %+v", ds)
	}
	_, body := get(t, a.MetricsHandler(), "/metrics")
	for _, want := range []string{`tether_media_device_up{device="speaker"} 0`, `tether_state{state="no-speaker"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
