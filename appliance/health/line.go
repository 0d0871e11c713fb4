package health

import (
	"fmt"
	"strings"
	"time"

	"tether/appliance/peer"
	"tether/media"
	"tether/signaling/socketio"
)

// Line renders the snapshot as the serial console's one status line (issue
// 6): overall state and reason, socket state and transport, peer state and
// path, RTTs, uptime and the last error, e.g.
//
//	ready (waiting for a customer) | socket connected websocket rtt 60ms | peer waiting host rtt 80ms | up 1h2m3s
func (s Snapshot) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", s.Overall, s.Reason)

	fmt.Fprintf(&b, " | socket %s", s.Socket.State)
	if s.Socket.Transport != "" {
		b.WriteString(" " + s.Socket.Transport)
	}
	if s.Socket.State != socketio.Connected && s.Socket.Attempt > 0 {
		fmt.Fprintf(&b, " attempt %d", s.Socket.Attempt)
	}
	if s.Socket.RTT > 0 {
		fmt.Fprintf(&b, " rtt %v", s.Socket.RTT.Round(time.Millisecond))
	}

	fmt.Fprintf(&b, " | peer %s", s.Peer.State)
	if s.Peer.Path != peer.PathNone {
		b.WriteString(" " + string(s.Peer.Path))
	}
	if s.Peer.RTT > 0 {
		fmt.Fprintf(&b, " rtt %v", s.Peer.RTT.Round(time.Millisecond))
	}
	if s.Peer.Loss > 0 {
		fmt.Fprintf(&b, " loss %.1f%%", s.Peer.Loss*100)
	}

	// Every device that does not deliver, each by name, even when a
	// higher-priority state hides it from the LEDs.
	// The encoder follows the camera it encodes.
	for _, d := range s.Media.Devices {
		if d.Down() {
			fmt.Fprintf(&b, " | %s %s", d.Name, d.State)
		}
		if d.Name == media.DeviceCamera && s.Media.EncoderDown() {
			b.WriteString(" | encoder down")
		}
	}

	fmt.Fprintf(&b, " | up %v", s.Uptime.Round(time.Second))
	if e := s.LastError(); e != "" {
		b.WriteString(" | last error: " + e)
	}
	return b.String()
}

// LastError is the most relevant error reported: the socket's, else the
// peer's, else the media pipeline's.
func (s Snapshot) LastError() string {
	for _, e := range []string{s.Socket.LastError, s.Peer.LastError, s.Media.LastError()} {
		if e != "" {
			return e
		}
	}
	return ""
}
