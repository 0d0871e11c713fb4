package health

import (
	"strings"
	"testing"
	"time"

	"tether/appliance/peer"
	"tether/media"
	"tether/signaling/socketio"
)

// inService is the fact set of a healthy appliance waiting for a customer.
func inService() Facts {
	return Facts{
		Network: NetworkStatus{State: NetworkUp},
		Socket:  SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: 60 * time.Millisecond},
		Peer:    PeerStatus{State: peer.Waiting, RTT: 80 * time.Millisecond},
		Media:   FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK, Encoder: media.EncoderHardware}),
	}
}

// setDevice sets one device's state and error, as the pipeline would
// report it.
func setDevice(m *MediaStatus, name string, st media.SourceState, err string) {
	for i := range m.Devices {
		if m.Devices[i].Name == name {
			m.Devices[i].State, m.Devices[i].Error = st, err
			return
		}
	}
	m.Devices = append(m.Devices, media.Device{Name: name, State: st, Error: err})
}

func TestDerive(t *testing.T) {
	th, err := Thresholds{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	mod := func(fn func(*Facts)) Facts {
		f := inService()
		fn(&f)
		return f
	}
	tests := []struct {
		name       string
		facts      Facts
		want       State
		wantReason string // substring
	}{
		{"zero facts are booting", Facts{Booting: true}, StateBooting, "starting"},
		{"ready", inService(), StateReadyWaiting, "waiting"},
		{"network unknown counts as up", mod(func(f *Facts) { f.Network = NetworkStatus{} }), StateReadyWaiting, ""},
		{"in call", mod(func(f *Facts) { f.Peer.State = peer.Connected; f.Peer.Path = peer.PathRelay }), StateInCall, "via relay"},
		{"negotiating is in call", mod(func(f *Facts) { f.Peer.State = peer.Negotiating }), StateInCall, "connecting"},
		{"restarting beats everything", mod(func(f *Facts) {
			f.Restarting = "stuck for 5m0s"
			f.Fault = "x"
			f.Booting = true
			f.Network.State = NetworkDown
		}), StateRestarting, "stuck"},
		{"fault beats booting", mod(func(f *Facts) { f.Fault = "store unusable"; f.Booting = true }), StateFault, "store unusable"},
		{"camera missing is no-camera, not ready", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceCamera, media.SourceMissing, "no /dev/video0")
		}), StateNoCamera, "camera missing: no /dev/video0"},
		{"camera failed", mod(func(f *Facts) { setDevice(&f.Media, media.DeviceCamera, media.SourceFailed, "EINVAL") }), StateNoCamera, "camera failed: EINVAL"},
		{"camera missing in call", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceCamera, media.SourceMissing, "")
			f.Peer.State = peer.Connected
		}), StateNoCamera, ""},
		{"test pattern asked for is fine", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceCamera, media.SourceTest, "")
			setDevice(&f.Media, media.DeviceMic, media.SourceTest, "")
		}), StateReadyWaiting, ""},
		{"starting devices are fine", mod(func(f *Facts) {
			f.Media = FromMedia(media.Status{Camera: media.SourceStarting, Mic: media.SourceStarting})
		}), StateReadyWaiting, ""},
		{"encoder failed", mod(func(f *Facts) {
			f.Media.Encoder, f.Media.EncoderError = media.EncoderNone, "no H.264 encoder"
		}), StateNoEncoder, "video encoder down: no H.264 encoder"},
		{"mic missing", mod(func(f *Facts) { setDevice(&f.Media, media.DeviceMic, media.SourceMissing, "no card") }), StateNoMicrophone, "microphone missing: no card"},
		{"mic failed", mod(func(f *Facts) { setDevice(&f.Media, media.DeviceMic, media.SourceFailed, "") }), StateNoMicrophone, "microphone failed"},
		{"audio off", mod(func(f *Facts) { setDevice(&f.Media, media.DeviceMic, media.SourceOff, "cgo disabled") }), StateNoMicrophone, "audio off: cgo disabled"},
		{"camera beats encoder beats mic", mod(func(f *Facts) {
			f.Media = FromMedia(media.Status{Camera: media.SourceReopening, Mic: media.SourceMissing, EncoderError: "x"})
		}), StateNoCamera, "camera reopening"},
		{"encoder beats mic", mod(func(f *Facts) {
			f.Media = FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceMissing, EncoderError: "x"})
		}), StateNoEncoder, ""},
		{"no camera beats no network", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceCamera, media.SourceMissing, "")
			f.Network.State = NetworkDown
		}), StateNoCamera, ""},
		{"booting beats no camera", mod(func(f *Facts) { f.Booting = true; setDevice(&f.Media, media.DeviceCamera, media.SourceMissing, "") }), StateBooting, ""},
		{"fault beats no camera", mod(func(f *Facts) {
			f.Fault = "no Opus in this build"
			setDevice(&f.Media, media.DeviceCamera, media.SourceMissing, "")
		}), StateFault, "Opus"},
		{"booting beats no network", mod(func(f *Facts) { f.Booting = true; f.Network.State = NetworkDown }), StateBooting, ""},
		{"no network beats login needed", mod(func(f *Facts) {
			f.Network = NetworkStatus{State: NetworkDown, Detail: "no default route"}
			f.Socket.State = socketio.SessionExpired
		}), StateNoNetwork, "no default route"},
		{"login needed", mod(func(f *Facts) { f.Socket.State = socketio.SessionExpired }), StateLoginNeeded, "session expired"},
		{"login needed beats degraded peer", mod(func(f *Facts) {
			f.Socket.State = socketio.SessionExpired
			f.Peer.State = peer.Restarting
		}), StateLoginNeeded, ""},
		{"backoff", mod(func(f *Facts) {
			f.Socket = SocketStatus{State: socketio.Backoff, Attempt: 3, LastError: "dial tcp: connection refused"}
		}), StateHubUnreachable, "socket backoff, attempt 3: dial tcp: connection refused"},
		{"connecting", mod(func(f *Facts) { f.Socket.State = socketio.Connecting }), StateHubUnreachable, "connecting"},
		{"disconnected during call", mod(func(f *Facts) { f.Socket.State = socketio.Disconnected; f.Peer.State = peer.Connected }), StateHubUnreachable, "disconnected"},
		{"connected but not in room", mod(func(f *Facts) { f.Peer.State = peer.Idle }), StateHubUnreachable, "joining"},
		{"ice restart", mod(func(f *Facts) { f.Peer.State = peer.Restarting }), StateDegraded, "ICE restart"},
		{"peer degraded", mod(func(f *Facts) { f.Peer.State = peer.Degraded }), StateDegraded, "peer degraded"},
		{"peer RTT high in call", mod(func(f *Facts) { f.Peer.State = peer.Connected; f.Peer.RTT = 900 * time.Millisecond }), StateDegraded, "peer RTT 900ms"},
		{"peer RTT at threshold is fine", mod(func(f *Facts) { f.Peer.RTT = DefaultDegradedRTT }), StateReadyWaiting, ""},
		{"socket RTT high", mod(func(f *Facts) { f.Socket.RTT = time.Second }), StateDegraded, "socket RTT 1s"},
		{"missed heartbeats", mod(func(f *Facts) { f.Peer.MissedHeartbeats = 2 }), StateDegraded, "2 heartbeats missed"},
		{"one missed heartbeat is fine", mod(func(f *Facts) { f.Peer.MissedHeartbeats = 1 }), StateReadyWaiting, ""},
		{"loss", mod(func(f *Facts) { f.Peer.State = peer.Connected; f.Peer.Loss = 0.1 }), StateDegraded, "packet loss 10.0%"},
		{"camera reopening", mod(func(f *Facts) { setDevice(&f.Media, media.DeviceCamera, media.SourceReopening, "") }), StateNoCamera, "camera reopening"},
		{"a device without a state of its own leaves the overall state", mod(func(f *Facts) {
			setDevice(&f.Media, "doorbell", media.SourceMissing, "no connector")
		}), StateReadyWaiting, "waiting"},
		// Issue 15: an expected display that fails is its own state, after
		// the speaker, before the network; off (none, or auto with no
		// screen connected) is fine.
		{"display missing", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceDisplay, media.SourceMissing, "no connector")
			f.Network.State = NetworkDown
		}), StateNoDisplay, "display missing: no connector"},
		{"display off is no fault", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceDisplay, media.SourceOff, "no screen connected")
		}), StateReadyWaiting, "waiting"},
		{"the speaker comes before the display", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceDisplay, media.SourceFailed, "")
			setDevice(&f.Media, media.DeviceSpeaker, media.SourceFailed, "")
		}), StateNoSpeaker, "speaker failed"},
		// Issue 15: a configured speaker that fails is its own state, after
		// the microphone; "speaker none" (off) and a starting one are fine.
		{"speaker missing", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceSpeaker, media.SourceMissing, "no card")
		}), StateNoSpeaker, "speaker missing: no card"},
		{"speaker reopening in a call", mod(func(f *Facts) {
			f.Peer.State = peer.Connected
			setDevice(&f.Media, media.DeviceSpeaker, media.SourceReopening, "EIO")
		}), StateNoSpeaker, "speaker reopening: EIO"},
		{"speaker none is no fault", mod(func(f *Facts) {
			f.Media = FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK, Encoder: media.EncoderHardware}.
				WithPlayer(media.PlayerStatus{Speaker: media.SourceOff, SpeakerError: "no speaker configured"}))
		}), StateReadyWaiting, "waiting"},
		{"the microphone comes before the speaker", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceSpeaker, media.SourceFailed, "")
			setDevice(&f.Media, media.DeviceMic, media.SourceMissing, "")
		}), StateNoMicrophone, "microphone missing"},
		{"the speaker comes before the network", mod(func(f *Facts) {
			setDevice(&f.Media, media.DeviceSpeaker, media.SourceFailed, "")
			f.Network.State = NetworkDown
		}), StateNoSpeaker, "speaker failed"},
		{"mic reopening", mod(func(f *Facts) { setDevice(&f.Media, media.DeviceMic, media.SourceReopening, "") }), StateNoMicrophone, "microphone reopening"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Derive(tc.facts, th)
			if got != tc.want {
				t.Fatalf("Derive = %v (%q), want %v", got, reason, tc.want)
			}
			if !strings.Contains(reason, tc.wantReason) {
				t.Fatalf("reason %q does not contain %q", reason, tc.wantReason)
			}
			if reason == "" {
				t.Fatal("empty reason")
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		name string
		in   Thresholds
		ok   bool
	}{
		{"zero takes defaults", Thresholds{}, true},
		{"custom", Thresholds{DegradedRTT: time.Second, MaxMissedHeartbeats: 5, DegradedLoss: 0.2}, true},
		{"negative rtt", Thresholds{DegradedRTT: -1}, false},
		{"negative heartbeats", Thresholds{MaxMissedHeartbeats: -1}, false},
		{"loss above 1", Thresholds{DegradedLoss: 1.5}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(Config{Thresholds: tc.in})
			if (err == nil) != tc.ok {
				t.Fatalf("New err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			got := tr.Thresholds()
			if got.DegradedRTT <= 0 || got.MaxMissedHeartbeats <= 0 || got.DegradedLoss <= 0 {
				t.Fatalf("defaults not filled: %+v", got)
			}
		})
	}
	// A custom threshold changes the derivation.
	f := inService()
	f.Peer.RTT = 500 * time.Millisecond
	if st, _ := Derive(f, Thresholds{DegradedRTT: time.Second, MaxMissedHeartbeats: 2, DegradedLoss: 0.05}); st != StateReadyWaiting {
		t.Fatalf("500ms under a 1s threshold = %v", st)
	}
}

func TestStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range States() {
		n := s.String()
		if n == "" || strings.HasPrefix(n, "State(") || seen[n] {
			t.Fatalf("bad or duplicate name %q for %d", n, int(s))
		}
		seen[n] = true
	}
	if len(States()) != 14 {
		t.Fatalf("%d states, want 14", len(States()))
	}
	if State(42).String() != "State(42)" || NetworkState(9).String() != "NetworkState(9)" {
		t.Fatal("out-of-range String")
	}
	// The socket, peer and path names are their layers' own (socketio,
	// peer); health adds only the network's.
	for _, s := range []interface{ String() string }{
		NetworkUnknown, NetworkUp, NetworkDown,
	} {
		if strings.Contains(s.String(), "(") {
			t.Fatalf("%v has no name", s)
		}
	}
}
