package appliance

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/signaling/socketio"
)

// MetricsHandler serves Prometheus metrics of both layers, read on scrape
// from the same snapshots the health tracker and the console use.
func (a *App) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	g := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tether", Name: name, Help: help}, f))
	}
	c := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tether", Name: name, Help: help}, f))
	}
	sock := func() socketio.Status { return a.Device.Client().Status() }
	ps := func() peer.Stats { return a.Peer.Stats() }
	for _, st := range health.States() {
		st := st
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tether", Name: "state", Help: "1 for the appliance's overall state (the LED state).",
			ConstLabels: prometheus.Labels{"state": st.String()},
		}, func() float64 {
			if a.Health.Snapshot().Overall == st {
				return 1
			}
			return 0
		}))
	}
	for _, s := range []socketio.State{socketio.Disconnected, socketio.Connecting, socketio.Connected, socketio.Backoff, socketio.SessionExpired} {
		s := s
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tether", Name: "socket_state", Help: "1 for the socket layer's state.",
			ConstLabels: prometheus.Labels{"state": s.String()},
		}, func() float64 {
			if sock().State == s {
				return 1
			}
			return 0
		}))
	}
	for _, s := range []peer.State{peer.Idle, peer.Waiting, peer.Negotiating, peer.Connected, peer.Degraded, peer.Restarting} {
		s := s
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tether", Name: "peer_state", Help: "1 for the WebRTC layer's state.",
			ConstLabels: prometheus.Labels{"state": s.String()},
		}, func() float64 {
			if ps().State == s {
				return 1
			}
			return 0
		}))
	}
	g("socket_websocket", "1 when the socket runs over WebSocket, 0 over polling or down.", func() float64 {
		if sock().Transport == "websocket" && sock().State == socketio.Connected {
			return 1
		}
		return 0
	})
	c("socket_reconnects_total", "Socket reconnections.", func() float64 { return float64(sock().Reconnects) })
	c("socket_attempts_total", "Socket reconnection attempts.", func() float64 { return float64(sock().Attempts) })
	c("socket_drops_total", "Socket connections lost.", func() float64 { return float64(sock().Drops) })
	g("socket_rtt_seconds", "Last keep-alive round trip.", func() float64 { return a.Device.RTT().Seconds() })
	c("ice_restarts_total", "ICE restarts.", func() float64 { return float64(ps().Restarts) })
	c("peer_consent_lost_total", "Times the selected pair went unanswered while ICE still said connected (appliance/peer/consent.go).",
		func() float64 { return float64(ps().ConsentLost) })
	c("customers_total", "Customers served (customer changes).", func() float64 { return float64(ps().Customers) })
	c("peer_refused_descriptions_total", "Customer offers and answers that could not be applied or answered (logged with the reason).",
		func() float64 { return float64(ps().RefusedDescriptions) })
	c("peer_refused_candidates_total", "Customer ICE candidates that could not be added.", func() float64 { return float64(ps().RefusedCandidates) })
	c("peer_renewed_total", "Calls moved to a fresh PeerConnection after a negotiation dead end (appliance/peer/negotiation.go).",
		func() float64 { return float64(ps().Renewed) })
	g("peer_rtt_seconds", "Last data-channel heartbeat round trip.", func() float64 { return ps().RTT.Seconds() })
	g("peer_relay", "1 when the media path runs through TURN.", func() float64 {
		if ps().Path == peer.PathRelay {
			return 1
		}
		return 0
	})
	g("peer_bitrate_bps", "Video+audio send bitrate.", func() float64 { return ps().BitrateBps })
	g("peer_fraction_lost", "Latest loss fraction from receiver reports.", func() float64 { return ps().FractionLost })
	c("peer_frames_sent_total", "Video frames sent to customers.", func() float64 { return float64(ps().FramesSent) })
	c("media_frames_total", "Video frames encoded.", func() float64 { return float64(a.Media.Status().Frames) })
	c("media_keyframes_total", "Keyframes encoded.", func() float64 { return float64(a.Media.Status().Keyframes) })
	g("media_fps", "Encoded frames per second.", func() float64 { return a.Media.Status().FPS })
	g("media_bitrate_bps", "Video encoder target bitrate.", func() float64 { return float64(a.Media.Status().Bitrate) })
	g("uptime_seconds", "Seconds since start.", func() float64 { return a.Health.Snapshot().Uptime.Seconds() })
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
