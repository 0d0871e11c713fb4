package peer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"tether/internal/testenv"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{-1, time.Second}, {0, time.Second}, {1, 2 * time.Second}, {2, 4 * time.Second},
		{3, 8 * time.Second}, {4, 8 * time.Second}, {1000, 8 * time.Second},
	} {
		t.Run(itoaTest(tc.attempt), func(t *testing.T) {
			if got := restartBackoff.Delay(tc.attempt); got != tc.want {
				t.Fatalf("restartBackoff.Delay(%d) = %v, want %v", tc.attempt, got, tc.want)
			}
		})
	}
}

func itoaTest(n int) string {
	return strings.TrimSpace(strings.Replace(time.Duration(n).String(), "ns", "", 1))
}

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    State
		want string
	}{
		{Idle, "idle"}, {Waiting, "waiting"}, {Negotiating, "negotiating"}, {Connected, "connected"},
		{Degraded, "degraded"}, {Restarting, "restarting"}, {numStates, "unknown"}, {-1, "unknown"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Fatalf("%d.String() = %q, want %q", int(tc.s), got, tc.want)
			}
		})
	}
}

func TestDecodeBeat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Beat
		err  bool
	}{
		{"ping", `{"type":"ping","seq":7,"t":1700000000000}`, Beat{BeatPing, 7, 1700000000000}, false},
		{"pong", `{"type":"pong","seq":1,"t":5}`, Beat{BeatPong, 1, 5}, false},
		{"unknown type", `{"type":"pang","seq":1,"t":5}`, Beat{}, true},
		{"no type", `{"seq":1,"t":5}`, Beat{}, true},
		{"not json", `ping`, Beat{}, true},
		{"negative seq", `{"type":"ping","seq":-1,"t":5}`, Beat{}, true},
		{"too long", `{"type":"ping","seq":1,"t":5,"pad":"` + strings.Repeat("x", maxBeatSize) + `"}`, Beat{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBeat([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrBadBeat) {
					t.Fatalf("err = %v, want ErrBadBeat", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if back, err := DecodeBeat(EncodeBeat(got)); err != nil || back != got {
				t.Fatalf("round trip: %+v, %v", back, err)
			}
		})
	}
}

func FuzzDecodeBeat(f *testing.F) {
	f.Add([]byte(`{"type":"ping","seq":7,"t":1700000000000}`))
	f.Add([]byte(`{"type":"pong","seq":1,"t":5}`))
	f.Add([]byte(`{"type":"ping","seq":18446744073709551615,"t":-9223372036854775808}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		beat, err := DecodeBeat(b)
		if err != nil {
			if !errors.Is(err, ErrBadBeat) {
				t.Fatalf("error not wrapping ErrBadBeat: %v", err)
			}
			return
		}
		back, err := DecodeBeat(EncodeBeat(beat))
		if err != nil || back != beat {
			t.Fatalf("re-encode of %+v: %+v, %v", beat, back, err)
		}
	})
}

func TestBeatState(t *testing.T) {
	t0 := time.UnixMilli(1_000_000)
	for _, tc := range []struct {
		name       string
		run        func(s *beatState)
		missed     int
		sent, lost uint64
		rtt        time.Duration
	}{
		{"answered", func(s *beatState) {
			seq := s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(40*time.Millisecond))
			s.tick()
		}, 0, 2, 0, 40 * time.Millisecond},
		{"two missed", func(s *beatState) {
			seq := s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(40*time.Millisecond))
			s.tick()
			s.tick()
			s.tick()
		}, 2, 4, 2, 40 * time.Millisecond},
		{"a page that never answers: no misses (issue 11)", func(s *beatState) { s.tick(); s.tick(); s.tick() }, 0, 3, 0, 0},
		{"late pong resets misses", func(s *beatState) {
			seq := s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(40*time.Millisecond))
			s.tick()
			seq = s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(time.Second))
		}, 0, 3, 1, time.Second},
		{"stale and future pongs ignored", func(s *beatState) {
			seq := s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(40*time.Millisecond))
			s.tick()
			s.tick()
			s.pong(Beat{BeatPong, 9, t0.UnixMilli()}, t0)
			s.pong(Beat{BeatPong, 0, t0.UnixMilli()}, t0)
		}, 1, 3, 1, 40 * time.Millisecond},
		{"pong of a ping sent before the path came back: answered, RTT not taken", func(s *beatState) {
			seq := s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(30*time.Millisecond))
			seq = s.tick() // sent into the outage; waits in SCTP's queue
			s.forgetRTT()  // the path is back
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(3*time.Second))
		}, 0, 2, 0, 0},
		{"after forgetRTT a fresh ping measures again", func(s *beatState) {
			seq := s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(40*time.Millisecond))
			s.tick()
			s.forgetRTT()
			seq = s.tick()
			s.pong(Beat{BeatPong, seq, t0.UnixMilli()}, t0.Add(25*time.Millisecond))
		}, 0, 3, 1, 25 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s beatState
			tc.run(&s)
			if s.missed != tc.missed || s.sent != tc.sent || s.lost != tc.lost || s.rtt != tc.rtt {
				t.Fatalf("missed %d sent %d lost %d rtt %v; want %d %d %d %v", s.missed, s.sent, s.lost, s.rtt, tc.missed, tc.sent, tc.lost, tc.rtt)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	must(t, err)
	sig := SignallerFunc(func(context.Context, string, Signal) error { return nil })
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"ok", Config{Tracks: []webrtc.TrackLocal{track}, Signaller: sig}, nil},
		{"no signaller", Config{Tracks: []webrtc.TrackLocal{track}}, ErrNoSignaller},
		{"no tracks", Config{Signaller: sig}, ErrNoTracks},
		{"nil track", Config{Tracks: []webrtc.TrackLocal{nil}, Signaller: sig}, ErrBadConfig},
		{"negative grace", Config{Tracks: []webrtc.TrackLocal{track}, Signaller: sig, DisconnectedGrace: -1}, ErrBadConfig},
		{"negative misses", Config{Tracks: []webrtc.TrackLocal{track}, Signaller: sig, HeartbeatMisses: -1}, ErrBadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (p != nil) {
				t.Fatalf("New: %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	must(t, err)
	p, err := New(Config{Tracks: []webrtc.TrackLocal{track}, Signaller: SignallerFunc(func(context.Context, string, Signal) error { return nil }), Logger: testenv.Logger()})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	p.syncForTest(t)
	if err := p.Run(ctx); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s := p.State(); s != Idle {
		t.Fatalf("state after Run: %s", s)
	}
}

func (p *Peer) syncForTest(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	p.enqueue(event{kind: evSync, done: done})
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Run goroutine stuck")
	}
}

func TestCandidateUfrag(t *testing.T) {
	u := "fromfield"
	for _, tc := range []struct {
		name string
		in   webrtc.ICECandidateInit
		want string
	}{
		{"extension", webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 1.2.3.5 9 typ host ufrag abcd"}, "abcd"},
		{"field wins", webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 1.2.3.5 9 typ host ufrag abcd", UsernameFragment: &u}, "fromfield"},
		{"none", webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 1.2.3.5 9 typ host"}, ""},
		{"dangling", webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 1.2.3.5 9 typ host ufrag"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := candidateUfrag(tc.in); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	got := sdpUfrags(&webrtc.SessionDescription{SDP: "v=0\r\na=ice-ufrag:one\r\nm=video 9\r\na=ice-ufrag:two\r\n"})
	if len(got) != 2 || !got["one"] || !got["two"] {
		t.Fatalf("sdpUfrags = %v", got)
	}
}
