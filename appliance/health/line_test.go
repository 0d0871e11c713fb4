package health

import (
	"testing"
	"time"

	"tether/appliance/peer"
	"tether/media"
	"tether/signaling/socketio"
)

func TestSnapshotLine(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		want string
	}{
		{"booting", Snapshot{Overall: StateBooting, Reason: "starting", Uptime: 1500 * time.Millisecond, Facts: Facts{Booting: true}},
			"booting (starting) | socket disconnected | peer idle | up 2s"},
		{"in call", Snapshot{Overall: StateInCall, Reason: "in call via relay", Uptime: time.Hour + 2*time.Minute,
			Facts: Facts{
				Socket: SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: 61400 * time.Microsecond, LastError: "EOF"},
				Peer:   PeerStatus{State: peer.Connected, Path: peer.PathRelay, RTT: 80 * time.Millisecond, Loss: 0.012},
			}},
			"in-call (in call via relay) | socket connected websocket rtt 61ms | peer connected relay rtt 80ms loss 1.2% | up 1h2m0s | last error: EOF"},
		{"backoff", Snapshot{Overall: StateHubUnreachable, Reason: "socket backoff, attempt 4: refused",
			Facts: Facts{Socket: SocketStatus{State: socketio.Backoff, Attempt: 4, LastError: "refused"}, Media: FromMedia(media.Status{CameraError: "cam"})}},
			"hub-unreachable (socket backoff, attempt 4: refused) | socket backoff attempt 4 | peer idle | up 0s | last error: refused"},
		{"media error only", Snapshot{Overall: StateNoCamera, Reason: "camera reopening: cam", Facts: Facts{Media: FromMedia(media.Status{Camera: media.SourceReopening, CameraError: "cam"})}},
			"no-camera (camera reopening: cam) | socket disconnected | peer idle | camera reopening | up 0s | last error: cam"},
		{"each device by name", Snapshot{Overall: StateNoCamera, Reason: "camera missing", Facts: Facts{Media: FromMedia(media.Status{
			Camera: media.SourceMissing, Mic: media.SourceOff, EncoderError: "no encoder"})}},
			"no-camera (camera missing) | socket disconnected | peer idle | camera missing | encoder down | mic off | up 0s | last error: no encoder"},
		// A device of issue 15 (a speaker) is one more entry of the list:
		// named on the line, its error the last one when it is the only one.
		{"a further device by name", Snapshot{Overall: StateReadyWaiting, Reason: "waiting for a customer", Facts: Facts{
			Socket: SocketStatus{State: socketio.SessionExpired}, Media: MediaStatus{Devices: []media.Device{
				{Name: media.DeviceCamera, State: media.SourceOK}, {Name: media.DeviceMic, State: media.SourceOK},
				{Name: "speaker", State: media.SourceMissing, Error: "no playback card"}}}}},
			"ready (waiting for a customer) | socket session_expired | peer idle | speaker missing | up 0s | last error: no playback card"},
		// The speaker as the appliance reports it (WithPlayer): failed, it
		// is named; off ("speaker none") it is not a fault and not named.
		{"a failed speaker", Snapshot{Overall: StateNoSpeaker, Reason: "speaker reopening: EIO", Facts: Facts{
			Media: FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK}.
				WithPlayer(media.PlayerStatus{Speaker: media.SourceReopening, SpeakerError: "EIO"}))}},
			"no-speaker (speaker reopening: EIO) | socket disconnected | peer idle | speaker reopening | up 0s | last error: EIO"},
		{"speaker none is not named", Snapshot{Overall: StateReadyWaiting, Reason: "waiting for a customer", Facts: Facts{
			Media: FromMedia(media.Status{Camera: media.SourceOK, Mic: media.SourceOK}.
				WithPlayer(media.PlayerStatus{Speaker: media.SourceOff}))}},
			"ready (waiting for a customer) | socket disconnected | peer idle | up 0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.snap.Line(); got != tc.want {
				t.Fatalf("Line =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}
