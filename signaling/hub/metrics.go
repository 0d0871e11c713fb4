package hub

import (
	"github.com/prometheus/client_golang/prometheus"
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
			Help: "signal messages, forwarded or dropped (wrong peer, wrong room, not in a call)."}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_events_total",
			Help: "Socket.IO events received, by name (unknown names are counted as other)."}, []string{"event"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_logins_total",
			Help: "POST /api/login answers by result."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_hub_connects_refused_total",
			Help: "CONNECTs refused, by CONNECT_ERROR message."}, []string{"reason"}),
	}
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
