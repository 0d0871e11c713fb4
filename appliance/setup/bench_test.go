package setup

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"tether/appliance/health"
	"tether/appliance/peer"
	"tether/signaling/socketio"
	"tether/store"
)

// benchServer has a full event log (50 shown) and a full RTT history, the
// worst case of one status publish.
func benchServer(b *testing.B) (*Server, health.Snapshot, []rttPoint) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tr, _ := health.New(health.Config{Logger: quiet})
	st := store.NewMem(store.Options{Logger: quiet})
	for i := range 200 {
		_ = st.AppendEvent(store.Event{Component: "socket", From: "connecting", To: "connected", Detail: fmt.Sprint("attempt ", i)})
	}
	_ = st.SetSession(store.Session{Token: "t", RoomID: "r", DeviceID: "d"})
	s, err := New(Config{Health: tr, Store: st, Login: (&fakeHub{}).login, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	tr.SetBooting(false)
	tr.ReportSocket(health.SocketStatus{State: socketio.Connected, Transport: "websocket", RTT: 50 * time.Millisecond})
	tr.ReportPeer(health.PeerStatus{State: peer.Connected, Path: peer.PathRelay, RTT: 90 * time.Millisecond})
	rtt := make([]rttPoint, rttPoints)
	for i := range rtt {
		rtt[i] = rttPoint{T: int64(i) * 1000, Socket: 50, Peer: 90}
	}
	return s, tr.Snapshot(), rtt
}

// BenchmarkSnapshotLine is the baseline: what the console pays per change.
func BenchmarkSnapshotLine(b *testing.B) {
	_, snap, _ := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = snap.Line()
	}
}

// BenchmarkStatusPublish is what the setup page pays per health change:
// read session and 50 events from the store, build the view, encode JSON.
func BenchmarkStatusPublish(b *testing.B) {
	s, snap, rtt := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		v := s.buildView(snap, rtt, nil, nil)
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatusPublishCached is the status loop's real cost: the event
// list is re-read only when a new event arrived.
func BenchmarkStatusPublishCached(b *testing.B) {
	s, snap, rtt := benchServer(b)
	var cache eventCache
	b.ReportAllocs()
	for b.Loop() {
		v := s.buildView(snap, rtt, nil, &cache)
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}
