package appliance

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/appliance/peer"
	"tether/store"
)

// countingStore counts the recorder's writes on top of a real bbolt file.
type countingStore struct {
	*store.Store
	paths, transports int
}

func (c *countingStore) RecordICEPath(p string) error {
	c.paths++
	return c.Store.RecordICEPath(p)
}

func (c *countingStore) RecordTransport(t store.Transport) error {
	c.transports++
	return c.Store.RecordTransport(t)
}

// TestRecorderWritesOnChange is issue 13's finding: the ICE path used to be
// written (an fsync) at every 2 s health feed of a call. A call of ten
// minutes on one path, with the socket's status reported again and again,
// now writes the path and the transport once each; a change of path is
// written at once; a restart of the process does not write again what the
// file already holds.
func TestRecorderWritesOnChange(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "tetherd.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(path, store.Options{Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	rec := newRecorder(st, log)
	rec.st = cs

	start := clk.Now()
	for i := 0; i < 300; i++ { // 10 minutes of 2 s feeds
		rec.icePath(peer.PathSrflx)
		rec.transportUp("websocket")
		clk.Advance(2 * time.Second)
	}
	rec.icePath(peer.PathNone) // between calls: nothing to record
	if cs.paths != 1 || cs.transports != 1 {
		t.Fatalf("%d ICE path and %d transport writes in a 10 min call, want 1 each", cs.paths, cs.transports)
	}
	ls, err := st.LinkState()
	if err != nil {
		t.Fatal(err)
	}
	if ls.ICEPath != string(peer.PathSrflx) || !ls.ICEPathAt.Equal(start) || ls.Transport != "websocket" || !ls.TransportAt.Equal(start) {
		t.Fatalf("link state %+v, want srflx and websocket recorded at %v", ls, start)
	}

	// The path changes (TURN fallback): written at once, once.
	changed := clk.Now()
	for i := 0; i < 10; i++ {
		rec.icePath(peer.PathRelay)
		clk.Advance(2 * time.Second)
	}
	if cs.paths != 2 {
		t.Fatalf("%d ICE path writes after a change, want 2", cs.paths)
	}
	if ls, _ = st.LinkState(); ls.ICEPath != string(peer.PathRelay) || !ls.ICEPathAt.Equal(changed) {
		t.Fatalf("link state %+v after the change", ls)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A new process starts from what the file holds.
	st, err = store.Open(path, store.Options{Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs = &countingStore{Store: st}
	rec = newRecorder(st, log)
	rec.st = cs
	rec.icePath(peer.PathRelay)
	rec.transportUp("websocket")
	if cs.paths != 0 || cs.transports != 0 {
		t.Fatalf("after a restart: %d path and %d transport writes of unchanged values", cs.paths, cs.transports)
	}
}
