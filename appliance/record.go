package appliance

import (
	"log/slog"

	"tether/appliance/peer"
	"tether/store"
)

// stateStore is what the appliance writes to the state file (store.Store).
type stateStore interface {
	SetSession(store.Session) error
	RecordTransport(store.Transport) error
	RecordICEPath(path string) error
	IncrCounter(c store.Counter, detail string) (uint64, error)
	RecordError(component, msg string) error
	AppendEvent(store.Event) error
}

// recorder is the one place the appliance writes the store, called only by
// Run (and by a Login before Run). Each write is an fsync on a Pi's SD
// card, so facts that are reported again and again (the transport on every
// socket status, the ICE path every 2 s of a call) are written when they
// change, not when they are reported (issue 13).
type recorder struct {
	st  stateStore
	log *slog.Logger
	// The last values written, starting from what the file holds.
	transport store.Transport
	path      peer.Path
}

func newRecorder(st *store.Store, log *slog.Logger) recorder {
	ls, _ := st.LinkState()
	return recorder{st: st, log: log, transport: ls.Transport, path: peer.Path(ls.ICEPath)}
}

func (r *recorder) session(s store.Session) error { return r.st.SetSession(s) }

// transportUp records the transport of a working connection when it
// differs from the one stored.
func (r *recorder) transportUp(t string) {
	if t == "" || store.Transport(t) == r.transport {
		return
	}
	if err := r.st.RecordTransport(store.Transport(t)); err != nil {
		r.log.Debug("record transport", "err", err)
		return
	}
	r.transport = store.Transport(t)
}

// icePath records the selected pair's candidate type of a connected call
// when it differs from the one stored.
func (r *recorder) icePath(p peer.Path) {
	if p == peer.PathNone || p == r.path {
		return
	}
	if err := r.st.RecordICEPath(string(p)); err != nil {
		r.log.Debug("record ICE path", "err", err)
		return
	}
	r.path = p
}

func (r *recorder) count(c store.Counter, detail string) {
	if _, err := r.st.IncrCounter(c, detail); err != nil {
		r.log.Debug("counter", "err", err)
	}
}

func (r *recorder) event(component, from, to, detail string) {
	if err := r.st.AppendEvent(store.Event{Component: component, From: from, To: to, Detail: detail}); err != nil {
		r.log.Debug("event log", "err", err)
	}
}

func (r *recorder) lastError(component, msg string) {
	if err := r.st.RecordError(component, msg); err != nil {
		r.log.Debug("record error", "err", err)
	}
}
