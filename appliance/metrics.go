package appliance

import (
	"fmt"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/internal/version"
	"tether/signaling/socketio"
)

// MetricsHandler is the metrics listener: GET /metrics (Prometheus), GET
// /healthz (200 unless the health state is a fault, 503 then; the state
// and its reason in the body) and 404 for every other path.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metricsRegistry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", a.healthz)
	return mux
}

// healthz answers a liveness probe from the health tracker: only a fault
// (a person must look) is unhealthy; a degraded or waiting appliance is
// alive and doing what it can.
func (a *App) healthz(w http.ResponseWriter, _ *http.Request) {
	snap := a.health.Snapshot()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if snap.Overall == health.StateFault {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintf(w, "%s (%s)\n", snap.Overall, snap.Reason)
}

// metricsRegistry holds the metrics of both layers, read on scrape from the
// same snapshots the health tracker and the console use, plus the Go and
// process collectors (process_start_time_seconds is the uptime) and
// tether_build_info.
func (a *App) metricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tether", Name: "build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version.Version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	g := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tether", Name: name, Help: help}, f))
	}
	c := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tether", Name: name, Help: help}, f))
	}
	sock := func() socketio.Status { return a.device.Client().Status() }
	ps := func() peer.Stats { return a.peer.Stats() }
	for _, st := range health.States() {
		st := st
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tether", Name: "state", Help: "1 for the appliance's overall state (the LED state).",
			ConstLabels: prometheus.Labels{"state": st.String()},
		}, func() float64 {
			if a.health.Snapshot().Overall == st {
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
	g("socket_rtt_seconds", "Last keep-alive round trip.", func() float64 { return a.device.RTT().Seconds() })
	c("ice_restarts_total", "ICE restarts.", func() float64 { return float64(ps().Restarts) })
	c("peer_consent_lost_total", "Times the selected pair went unanswered while ICE still said connected (appliance/peer/consent.go).",
		func() float64 { return float64(ps().ConsentLost) })
	c("customers_total", "Customers served (customer changes).", func() float64 { return float64(ps().Customers) })
	c("peer_refused_descriptions_total", "Customer offers and answers that could not be applied or answered (logged with the reason).",
		func() float64 { return float64(ps().RefusedDescriptions) })
	c("peer_refused_candidates_total", "Customer ICE candidates that could not be added.", func() float64 { return float64(ps().RefusedCandidates) })
	c("peer_renewed_total", "Calls moved to a fresh PeerConnection after a negotiation dead end (appliance/peer/negotiation.go).",
		func() float64 { return float64(ps().Renewed) })
	c("peer_customer_tracks_total", "The customers' camera and microphone tracks received (issue 15).",
		func() float64 { return float64(ps().CustomerTracks) })
	g("peer_rtt_seconds", "Last data-channel heartbeat round trip.", func() float64 { return ps().RTT.Seconds() })
	g("peer_relay", "1 when the media path runs through TURN.", func() float64 {
		if ps().Path == peer.PathRelay {
			return 1
		}
		return 0
	})
	// Bytes, not bits: Prometheus' base unit (promlint), so a dashboard
	// multiplies by 8 for a bitrate.
	g("peer_send_bytes_per_second", "Video+audio send rate to the customer.", func() float64 { return ps().BitrateBps / 8 })
	g("peer_loss_ratio", "Latest fraction of packets lost, from receiver reports (0..1).", func() float64 { return ps().FractionLost })
	c("peer_frames_sent_total", "Video frames sent to customers.", func() float64 { return float64(ps().FramesSent) })
	c("media_frames_total", "Video frames encoded.", func() float64 { return float64(a.media.Status().Frames) })
	c("media_keyframes_total", "Keyframes encoded.", func() float64 { return float64(a.media.Status().Keyframes) })
	g("media_frames_per_second", "Encoded frames per second.", func() float64 { return a.media.Status().FPS })
	g("media_target_bytes_per_second", "Video encoder target rate.", func() float64 { return float64(a.media.Status().Bitrate) / 8 })
	// The customer's voice on the speaker (issue 15 §2-3): what played,
	// what the jitter buffer made up, and the latency the appliance adds
	// (packet arrival to the sound card's write).
	c("speaker_packets_total", "Customer audio packets decoded for the speaker.", func() float64 { return float64(a.speakerStatus().Packets) })
	c("speaker_concealed_total", "Customer audio frames concealed (lost or late) on the speaker.",
		func() float64 { return float64(a.speakerStatus().Concealed) })
	g("speaker_latency_seconds", "Customer audio packet arrival to its write to the speaker, smoothed over ~16 packets.",
		func() float64 { return a.speakerStatus().Latency.Seconds() })
	// One gauge per media device, 1 while it delivers (issue 11: a missing
	// camera is visible here, not only in the overall state). The devices
	// are the media layer's list, so issue 15's speaker and display appear
	// by themselves.
	reg.MustRegister(mediaDevices{snapshot: func() health.MediaStatus { return a.health.Snapshot().Media }})
	return reg
}

var mediaDeviceUp = prometheus.NewDesc("tether_media_device_up",
	"1 while the media device delivers or is off by configuration (each device by its media name, and the encoder), else 0.", []string{"device"}, nil)

// mediaDevices collects tether_media_device_up from the health snapshot's
// device list at each scrape.
type mediaDevices struct {
	snapshot func() health.MediaStatus
}

func (mediaDevices) Describe(ch chan<- *prometheus.Desc) { ch <- mediaDeviceUp }

func (m mediaDevices) Collect(ch chan<- prometheus.Metric) {
	up := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	ms := m.snapshot()
	for _, d := range ms.Devices {
		ch <- prometheus.MustNewConstMetric(mediaDeviceUp, prometheus.GaugeValue, up(!d.Down()), d.Name)
	}
	ch <- prometheus.MustNewConstMetric(mediaDeviceUp, prometheus.GaugeValue, up(!ms.EncoderDown()), "encoder")
}
