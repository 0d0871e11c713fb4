package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"tether/signaling/engineio"
)

// metrics are the hub's Prometheus series (docs/operations: "Hub metrics").
// Connections by role and transport are read from the loop at scrape time
// (transports change on upgrade), the rest are updated where they happen.
type metrics struct {
	reg         *prometheus.Registry
	rooms       prometheus.Gauge
	calls       prometheus.Counter
	activeCalls prometheus.Gauge
	callSeconds prometheus.Histogram
	queued      prometheus.Gauge
	reconnects  *prometheus.CounterVec
	signals     *prometheus.CounterVec
	events      *prometheus.CounterVec
	logins      *prometheus.CounterVec
	refused     *prometheus.CounterVec
	// Issue 12's limits.
	signalFloods prometheus.Counter
	queueRefused prometheus.Counter
	// Issue 17: store look-ups refused by the admission gate.
	storeBusy prometheus.Counter
}

func newMetrics(conns func() map[[2]string]int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_hub_rooms",
			Help: "Rooms with at least one member."}),
		calls: prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_hub_calls_total",
			Help: "Calls started (a customer became the counter's active customer)."}),
		activeCalls: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_hub_calls_active",
			Help: "Rooms with a customer in the call."}),
		callSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tether_hub_call_duration_seconds",
			Help: "Time a customer spent as the active customer.", Buckets: prometheus.ExponentialBuckets(5, 2, 10)}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_hub_queue_waiting",
			Help: "Customers waiting in all queues."}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_reconnects_total",
			Help: "Sockets back after a drop: recovered within the window, or a new session of a known device."}, []string{"role", "kind"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_signals_total",
			Help: "signal messages by result: forwarded, dropped (not in a call), malformed, too_large, rate_limited, receiver_slow (dropped: the receiver is not keeping up)."}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_events_total",
			Help: "Socket.IO events received, by name (unknown names are counted as other)."}, []string{"event"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_logins_total",
			Help: "POST /api/login answers by result."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_connects_refused_total",
			Help: "CONNECTs refused, by CONNECT_ERROR message."}, []string{"reason"}),
	}
	m.signalFloods = prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_hub_signal_floods_total",
		Help: "Sockets disconnected for sending signals past the rate or size bounds too often."})
	m.queueRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_hub_queue_refused_total",
		Help: "Queue places refused because the invite or the client address already holds its share."})
	m.storeBusy = prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_hub_store_busy_total",
		Help: "Session and invite look-ups (CONNECT, session:verify) answered busy: the admission queue was full or its wait ran out."})
	m.reg.MustRegister(m.signalFloods, m.queueRefused, m.storeBusy)
	m.reg.MustRegister(m.rooms, m.calls, m.activeCalls, m.callSeconds, m.queued, m.reconnects, m.signals, m.events, m.logins, m.refused)
	if conns != nil {
		m.reg.MustRegister(&connCollector{f: conns, desc: prometheus.NewDesc("tether_hub_connections",
			"Sockets connected to the hub, by role and transport.", []string{"role", "transport"}, nil)})
	}
	return m
}

// connCollector asks the loop for connection counts at scrape time.
type connCollector struct {
	f    func() map[[2]string]int
	desc *prometheus.Desc
}

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

// registerLimits adds the bounds' counters that live below the hub (the
// Engine.IO session bounds, the per-address connection bound, the TURN
// peer filter); they are read at scrape time.
func (m *metrics) registerLimits(h *Hub) {
	stats := func() engineio.ServerStats { return h.sio.Stats() }
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_hub_sessions",
			Help: "Engine.IO sessions open (connected or not)."}, func() float64 { return float64(stats().Sessions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_hub_sessions_refused_total",
			Help: "Handshakes refused by the session bounds.", ConstLabels: prometheus.Labels{"bound": "total"}},
			func() float64 { return float64(stats().RefusedTotal) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_hub_sessions_refused_total",
			Help: "Handshakes refused by the session bounds.", ConstLabels: prometheus.Labels{"bound": "per_addr"}},
			func() float64 { return float64(stats().RefusedPerAddr) }),
	)
	if h.lim2 != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_hub_conns_refused_total",
			Help: "TCP connections closed at accept: their address held MaxConnsPerAddr already."},
			func() float64 { return float64(h.lim2.Refused()) }))
	}
	if h.turn != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_hub_turn_peers_refused_total",
			Help: "TURN permissions refused: the peer is in a denied range (loopback, private, CGNAT, link-local, multicast, the hub's own)."},
			func() float64 { return float64(h.turn.refusedPeers.Load()) }))
	}
}
