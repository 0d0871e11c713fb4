package socketio

import (
	"testing"
	"time"
)

func TestRecoveryIncludes(t *testing.T) {
	tests := []struct {
		name          string
		rooms, except []string
		session       []string
		want          bool
	}{
		{"to all", nil, nil, []string{"id1"}, true},
		{"to its room", []string{"r"}, nil, []string{"id1", "r"}, true},
		{"to another room", []string{"r2"}, nil, []string{"id1", "r"}, false},
		{"excluded sender", []string{"r"}, []string{"id1"}, []string{"id1", "r"}, false},
		{"excluded other", []string{"r"}, []string{"id2"}, []string{"id1", "r"}, true},
		{"to all except a room it is in", nil, []string{"r"}, []string{"id1", "r"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &logged{rooms: tc.rooms, except: tc.except}
			if got := l.includes(tc.session); got != tc.want {
				t.Fatalf("includes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecoveryLogAndRestore(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const win = 2 * time.Minute
	var r recovery
	r.init("abc")
	add := func(at time.Time, rooms []string, size int, maxPackets int, maxBytes int64) string {
		off := r.nextOffset()
		r.append(&logged{offset: off, rooms: rooms, text: make([]byte, size), at: at}, at, win, maxPackets, maxBytes)
		return off
	}
	o1 := add(t0, nil, 10, 100, 1000)
	o2 := add(t0, []string{"r"}, 10, 100, 1000)
	o3 := add(t0, []string{"x"}, 10, 100, 1000)
	if r.index(o1) != 0 || r.index(o3) != 2 || r.index("zzz-1") != -1 || r.index("abc-zz") != -1 {
		t.Fatalf("index %d %d", r.index(o1), r.index(o3))
	}
	r.persist(&session{sid: "s", pid: "p", rooms: []string{"s", "r"}, at: t0})
	if s, _ := r.restore("p", "abc-999", t0, win, 0); s != nil {
		t.Fatal("restored with an unknown offset")
	}
	s, missed := r.restore("p", o1, t0.Add(time.Minute), win, 0)
	if s == nil || len(missed) != 1 || missed[0].offset != o2 {
		t.Fatalf("restore %v %v", s, missed)
	}
	if s, _ := r.restore("p", o1, t0, win, 0); s != nil {
		t.Fatal("a session restored twice")
	}
	// A session that missed more than the replay bound starts afresh
	// (issue 12: a replay that overflows the send buffer closes it again).
	r.persist(&session{sid: "s", pid: "p", rooms: []string{"s", "r"}, at: t0})
	if s, _ := r.restore("p", o1, t0, win, 5); s != nil || r.sessions["p"] != nil {
		t.Fatal("restored a replay above the byte bound")
	}
	r.persist(&session{sid: "s", pid: "p", rooms: []string{"s"}, at: t0})
	if s, _ := r.restore("p", o1, t0.Add(win+time.Second), win, 0); s != nil {
		t.Fatal("restored after the window")
	}
	if len(r.sessions) != 0 {
		t.Fatal("expired session kept")
	}
	// Bounds: count, bytes, age.
	add(t0, nil, 10, 3, 1000)
	if len(r.packets) != 3 || r.index(o1) != -1 || r.index(o2) != 0 {
		t.Fatalf("count bound: %d packets", len(r.packets))
	}
	add(t0, nil, 25, 100, 50)
	if r.bytes != 45 || len(r.packets) != 3 {
		t.Fatalf("byte bound: %d bytes in %d packets", r.bytes, len(r.packets))
	}
	add(t0.Add(win+time.Second), nil, 1, 100, 1000)
	if len(r.packets) != 1 || r.bytes != 1 {
		t.Fatalf("age bound: %d packets %d bytes", len(r.packets), r.bytes)
	}
	r.persist(&session{sid: "s2", pid: "p2", at: t0})
	r.sweep(t0.Add(2*win+2*time.Second), win)
	if len(r.sessions) != 0 || len(r.packets) != 0 || r.bytes != 0 {
		t.Fatalf("sweep left %d sessions %d packets", len(r.sessions), len(r.packets))
	}
}
