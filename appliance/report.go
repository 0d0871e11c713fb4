package appliance

import (
	"net"
	"net/url"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/internal/version"
)

// feedHealth reports media and network facts and the peer's stats (RTT,
// loss, path) between its transitions; Run calls it every 2 s and when the
// network comes back.
func (a *App) feedHealth() {
	a.health.ReportMedia(health.FromMedia(a.MediaStatus()))
	a.health.ReportNetwork(a.networkStatus())
	a.reportPeer(a.health.Snapshot().Peer.State)
}

// reportPeer reports the WebRTC layer's stats with state, the state of its
// latest transition (which health holds: onPeerState), and records the
// path of a connected call when it changed. Run goroutine only.
func (a *App) reportPeer(state peer.State) {
	st := a.peer.Stats()
	a.health.ReportPeer(health.PeerStatus{
		State: state, Path: st.Path, RTT: st.RTT,
		Loss: st.FractionLost, MissedHeartbeats: st.MissedBeats,
	})
	if state == peer.Connected {
		a.rec.icePath(st.Path)
	}
}

// networkStatus says whether any non-loopback interface is up with an
// address (or the hub is on loopback, as in the demo).
func (a *App) networkStatus() health.NetworkStatus {
	if u, err := url.Parse(a.hubURL()); err == nil {
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return health.NetworkStatus{State: health.NetworkUp, Detail: "hub on loopback"}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return health.NetworkStatus{State: health.NetworkUnknown, Detail: err.Error()}
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
				return health.NetworkStatus{State: health.NetworkUp, Detail: ifc.Name + " " + ipn.String()}
			}
		}
	}
	return health.NetworkStatus{State: health.NetworkDown, Detail: "no interface with an address"}
}

// deviceStatus is the device:status payload (room protocol v1). It runs on
// the socket's goroutine and reads only published snapshots: health's
// facts, the peer's stats, the socket's status.
func (a *App) deviceStatus() any {
	snap := a.health.Snapshot()
	ps := a.peer.Stats()
	ss := a.device.Client().Status()
	// Each media device by name (issue 11), as the media layer lists them:
	// a missing camera shows here and in the dashboard, not only as the
	// overall state; issue 15's speaker and display add their entries.
	md := map[string]any{"encoder": snap.Media.EncoderState(), "lastError": snap.Media.LastError()}
	for _, d := range snap.Media.Devices {
		md[d.Name] = d.State.String()
	}
	return map[string]any{
		"socket": map[string]any{
			"state": ss.State.String(), "transport": ss.Transport, "reconnects": ss.Reconnects,
			"attempts": ss.Attempts, "lastError": ss.LastError,
		},
		"peer": map[string]any{
			"state": snap.Peer.State.String(), "path": string(ps.Path), "restarts": ps.Restarts,
			"customers": ps.Customers, "bitrateBps": ps.BitrateBps, "framesSent": ps.FramesSent,
		},
		"media":   md,
		"overall": snap.Overall.String(),
		"reason":  snap.Reason,
		"rttMs":   a.device.RTT().Milliseconds(),
		"uptimeS": int64(snap.Uptime.Seconds()),
		"version": version.Version,
	}
}
