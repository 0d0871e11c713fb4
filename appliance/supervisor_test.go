package appliance

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/webrtc/v4"

	"tether/appliance/health"
	"tether/media"
	"tether/store"
)

// stillMedia is a pipeline that owns two tracks and sends nothing, so the
// tests can move the clock by minutes without encoding a frame.
type stillMedia struct{ tracks []webrtc.TrackLocal }

func newStillMedia(t *testing.T) *stillMedia {
	v, err := webrtc.NewTrackLocalStaticSample(media.VideoCodec, "video", "tether")
	if err != nil {
		t.Fatal(err)
	}
	au, err := webrtc.NewTrackLocalStaticSample(media.AudioCodec, "audio", "tether")
	if err != nil {
		t.Fatal(err)
	}
	return &stillMedia{tracks: []webrtc.TrackLocal{v, au}}
}

func (m *stillMedia) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (m *stillMedia) Tracks() []webrtc.TrackLocal   { return m.tracks }
func (m *stillMedia) RequestKeyframe()              {}
func (m *stillMedia) SetBitrate(int)                {}
func (m *stillMedia) Status() media.Status {
	return media.Status{Camera: media.SourceTest, Mic: media.SourceTest}
}

// notifySocket is a fake systemd: a unixgram listener whose path the test
// puts in NOTIFY_SOCKET; every datagram arrives on C.
type notifySocket struct{ C chan string }

func newNotifySocket(t *testing.T, addr string, watchdog time.Duration) *notifySocket {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", addr)
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", itoa(int(watchdog/time.Microsecond)))
	}
	n := &notifySocket{C: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				close(n.C)
				return
			}
			select {
			case n.C <- string(buf[:k]):
			default:
			}
		}
	}()
	return n
}

// expect reads datagrams until one has the prefix, within 10 s of real
// time, and returns it.
func (n *notifySocket) expect(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-n.C:
			if !ok {
				t.Fatalf("notify socket closed before %q", prefix)
			}
			if strings.HasPrefix(m, prefix) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q from sd_notify", prefix)
		}
	}
}

// advance moves the mock clock by total in steps, letting the goroutines
// woken by each step run, until stop says so; it returns the time moved.
func advance(mock *clockwork.FakeClock, total, step time.Duration, stop func() bool) time.Duration {
	var moved time.Duration
	for moved < total && (stop == nil || !stop()) {
		mock.Advance(step)
		moved += step
		time.Sleep(2 * time.Millisecond)
	}
	return moved
}

func mockClock() *clockwork.FakeClock {
	m := clockwork.NewFakeClockAt(time.Now())
	return m
}

// TestSDNotifyAndNoRestartWhileWaitingForLogin: READY=1 at start, STATUS=
// with the console's line on every change, WATCHDOG=1 at half the
// watchdog interval while the owner goroutines answer, STOPPING=1 at the
// end. An appliance waiting for its first login (no socket manager
// running) is not stuck: it must not restart itself every 35 s.
func TestSDNotifyAndNoRestartWhileWaitingForLogin(t *testing.T) {
	for _, addr := range []string{"path", "@abstract"} {
		t.Run(addr, func(t *testing.T) {
			sockAddr := filepath.Join(t.TempDir(), "notify")
			if addr[0] == '@' {
				sockAddr = "@tether-test-" + filepath.Base(filepath.Dir(sockAddr))
			}
			ns := newNotifySocket(t, sockAddr, 2*time.Second)
			mock := mockClock()
			a := testApp(t, Deps{Clock: mock, Media: newStillMedia(t)}, "-camera", "test", "-mic", "test")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()

			ns.expect(t, "READY=1")
			ns.expect(t, "STATUS=login-needed (session expired: log in on the setup page)")
			// Watchdog every 1 s (half of WATCHDOG_USEC) while probes pass;
			// two minutes of waiting for a login is no reason to restart.
			var feeds int
			advance(mock, 2*time.Minute, 250*time.Millisecond, func() bool {
				select {
				case err := <-done:
					t.Fatalf("Run returned %v while waiting for a login", err)
				default:
				}
				return false
			})
		drain:
			for {
				select {
				case m := <-ns.C:
					if m == "WATCHDOG=1" {
						feeds++
					}
				default:
					break drain
				}
			}
			if feeds < 60 {
				t.Fatalf("%d watchdog feeds in 2 min with a 2 s watchdog", feeds)
			}
			if s := a.Health().Snapshot(); s.Overall != health.StateLoginNeeded {
				t.Fatalf("overall %v (%s)", s.Overall, s.Reason)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			ns.expect(t, "STOPPING=1")
		})
	}
}

// TestSupervisorStuckRestartsAfter3s: the hub unreachable for the stuck
// timeout with the network up makes the supervisor show "restarting" and,
// 3 s later on the same clock, return ErrStuck (main exits 3 for it).
func TestSupervisorStuckRestartsAfter3s(t *testing.T) {
	mock := mockClock()
	data := filepath.Join(t.TempDir(), "tetherd.db")
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A stored session, and a hub nobody listens on (loopback counts as
	// the network being up).
	if err := st.SetSession(store.Session{Token: "t", ExpiresAt: mock.Now().Add(time.Hour), HubURL: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	a := testApp(t, Deps{Clock: mock, Media: newStillMedia(t)}, "-camera", "test", "-mic", "test",
		"-data", data, "-hub", "http://127.0.0.1:1", "-stuck-timeout", "10s")
	sub := a.Health().Subscribe()
	defer sub.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()

	var restartingAt time.Time
	advance(mock, 2*time.Minute, 250*time.Millisecond, func() bool {
		select {
		case s := <-sub.C():
			if s.Overall == health.StateRestarting {
				restartingAt = mock.Now()
			}
		default:
		}
		return !restartingAt.IsZero()
	})
	if restartingAt.IsZero() {
		t.Fatalf("never restarting; overall %v (%s)", a.Health().Snapshot().Overall, a.Health().Snapshot().Reason)
	}
	if r := a.Health().Snapshot().Reason; !strings.Contains(r, "hub unreachable for") {
		t.Fatalf("restart reason %q", r)
	}
	// Not before 3 s...
	advance(mock, 2750*time.Millisecond, 250*time.Millisecond, nil)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v %v after restarting began, before 3 s", err, mock.Now().Sub(restartingAt))
	case <-time.After(20 * time.Millisecond):
	}
	// ...then ErrStuck. The components' shutdown may take more ticks of
	// the clock, and real time on a loaded machine: the clock keeps moving
	// until Run returns, bounded by a generous real-time limit (not a
	// measure of speed).
	var err2 error
	returned := false
	for bound := time.Now().Add(30 * time.Second); !returned && time.Now().Before(bound); {
		advance(mock, time.Second, 250*time.Millisecond, nil)
		select {
		case err2 = <-done:
			returned = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	if !returned || !errors.Is(err2, ErrStuck) {
		t.Fatalf("Run = %v (returned %v), want ErrStuck", err2, returned)
	}
}
