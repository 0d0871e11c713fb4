package peer

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"testing"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
)

// TestConnectAndMedia: a customer joins, gets the prepared offer, and
// assembles keyframes; the path is reported as host; heartbeats give an RTT.
func TestConnectAndMedia(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r := newHarness(t, mock)
	r.waitStandby()
	c := r.join("cust-1")
	defer c.close()
	r.waitState(Connected)
	c.waitFrames(10)

	st := r.peer.Stats()
	if st.Customer != "cust-1" || st.Path != PathHost {
		t.Fatalf("stats after connect: customer %q path %q", st.Customer, st.Path)
	}
	if !strings.Contains(st.LocalCandidate, applianceIP) || !strings.Contains(st.RemoteCandidate, customerIP) {
		t.Fatalf("candidate pair %q -> %q", st.LocalCandidate, st.RemoteCandidate)
	}
	if st.KeyframeReqs == 0 {
		t.Fatal("no keyframe requested when the path came up")
	}
	if c.answers.Load() != 1 {
		t.Fatalf("customer answered %d offers, want 1", c.answers.Load())
	}

	// A PLI from the customer (RFC 4585 §6.3.1) reaches the encoder.
	select {
	case <-r.keyReq: // the one from connecting
	default:
	}
	var ssrc uint32
	for _, tr := range c.pc.GetReceivers() {
		if t := tr.Track(); t != nil && t.Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = uint32(t.SSRC())
		}
	}
	must(t, c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}))
	select {
	case <-r.keyReq:
	case <-time.After(waitLimit):
		t.Fatal("PLI did not reach the KeyframeRequester")
	}
}

// TestEarlyCandidatesQueued: the customer's candidates overtake its answer
// (signalling may reorder); they wait for the remote description and the
// call connects.
func TestEarlyCandidatesQueued(t *testing.T) {
	r := newHarness(t, clockwork.NewFakeClockAt(time.Unix(0, 0)))
	r.waitStandby()
	r.hub.mu.Lock()
	r.hub.holdFromCustomer = true
	r.hub.mu.Unlock()
	c := r.join("cust-1")
	defer c.close()
	select {
	case <-r.hub.heldAnswer: // answer, candidates and end-of-candidates held
	case <-time.After(waitLimit):
		t.Fatal("customer never finished gathering")
	}
	r.hub.releaseCandidatesFirst("cust-1")
	r.waitState(Connected)
	c.waitFrames(5)
	if st := r.syncStats(); st.EarlyCands == 0 {
		t.Fatal("no candidate was queued")
	}
}

// driveUntil advances the mock clock by step every tick of real time until
// want is reached: pion's own timers run in real time, ours on the mock.
func (r *harness) driveUntil(mock *clockwork.FakeClock, want State, step time.Duration) {
	r.tb.Helper()
	deadline := time.After(waitLimit)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s := <-r.states:
			if s == want {
				return
			}
		case <-tick.C:
			mock.Advance(step)
		case <-deadline:
			r.tb.Fatalf("state %s not reached; now %s; stats %+v", want, r.peer.State(), r.peer.Stats())
		}
	}
}

func connectedHarness(t *testing.T, mock *clockwork.FakeClock, opts ...harnessOption) (*harness, *customer) {
	t.Helper()
	r := newHarness(t, mock, opts...)
	r.waitStandby()
	c := r.join("cust-1")
	t.Cleanup(c.close)
	r.waitState(Connected)
	c.waitFrames(5)
	return r, c
}

// TestPathLossAndReturn: the whole path drops (vnet filter), ICE reports
// disconnected, the grace runs out on the injected clock, the appliance
// restarts ICE; when the path returns media flows again.
func TestPathLossAndReturn(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r, c := connectedHarness(t, mock)
	answers := c.answers.Load()

	r.net.dropAll.Store(true)
	r.waitState(Degraded) // pion: disconnected after 1.5–2 s of silence
	mock.Advance(DefaultDisconnectedGrace)
	r.waitState(Restarting)
	r.net.dropAll.Store(false)
	r.driveUntil(mock, Connected, time.Second)
	c.waitFrames(10)

	st := r.peer.Stats()
	if st.Restarts == 0 || c.answers.Load() <= answers {
		t.Fatalf("no ICE restart seen: restarts %d answers %d->%d", st.Restarts, answers, c.answers.Load())
	}
	if st.Entered[Degraded] == 0 || st.Entered[Restarting] == 0 {
		t.Fatalf("transitions not counted: %+v", st.Entered)
	}
}

// TestEndlessRestartBackoff: while the path stays down the appliance
// restarts again and again on the 1, 2, 4, 8, 8 s schedule of the
// injected clock, and never gives up.
func TestEndlessRestartBackoff(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r, c := connectedHarness(t, mock)
	r.net.dropAll.Store(true)
	r.waitState(Degraded)
	mock.Advance(DefaultDisconnectedGrace)
	r.waitState(Restarting)
	base := r.syncStats().Restarts
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second} {
		sent := r.hub.sent.Load()
		// An offer still unanswered now need not go again at this
		// attempt (the customer answers in real time while the mock clock
		// jumps; TestNoDuplicateOffer).
		pending := false
		r.onLoop(func() { pending = r.peer.active.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer })
		mock.Advance(d - time.Millisecond)
		if got := r.syncStats().Restarts; got != base+uint64(i) {
			t.Fatalf("attempt %d: restarted early (%d restarts after %v)", i+1, got-base, d-time.Millisecond)
		}
		mock.Advance(time.Millisecond)
		// The timer's callback runs on a goroutine of its own, which
		// Advance does not wait for: wait for the restart it queues.
		want := base + uint64(i) + 1
		testenv.Eventually(t, waitLimit, fmt.Sprintf("attempt %d after the %v backoff", i+1, d), func() bool { return r.peer.Stats().Restarts >= want })
		if got := r.syncStats().Restarts; got != want {
			t.Fatalf("attempt %d: %d restarts after the %v backoff, want %d", i+1, got-base, d, i+1)
		}
		if r.hub.sent.Load() == sent && !pending {
			t.Fatalf("attempt %d sent no offer", i+1)
		}
	}
	r.net.dropAll.Store(false)
	r.driveUntil(mock, Connected, time.Second)
	c.waitFrames(5)
}

// syncStats waits until the Run goroutine has handled everything queued
// so far (timer callbacks of the mock run on their own goroutines) and
// returns the snapshot.
func (r *harness) syncStats() Stats {
	r.tb.Helper()
	done := make(chan struct{})
	r.peer.enqueue(event{kind: evSync, done: done})
	select {
	case <-done:
	case <-time.After(waitLimit):
		r.tb.Fatal("Run goroutine stuck")
	}
	return r.peer.Stats()
}

// TestNATRebinding: the appliance's address changes (DHCP renew, LTE
// re-attach): the old path dies, the restart gathers the new address and
// media flows from it.
func TestNATRebinding(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r, c := connectedHarness(t, mock)
	// The standby gathers once the call is up; let it finish: vnet's
	// Interfaces() hands out the interface it mutates in AddAddress, so
	// gathering and re-addressing at once is a race inside vnet itself.
	r.waitStandby()
	must(t, r.net.appNet.AddAddress("eth0", &net.IPNet{IP: net.ParseIP(reboundIP), Mask: net.CIDRMask(24, 32)}))
	must(t, r.net.appNet.RemoveAddress("eth0", net.ParseIP(applianceIP)))

	r.waitState(Degraded)
	mock.Advance(DefaultDisconnectedGrace)
	r.driveUntil(mock, Connected, time.Second)
	c.waitFrames(10)
	if st := r.syncStats(); !strings.Contains(st.LocalCandidate, reboundIP) {
		t.Fatalf("local candidate %q, want the new address %s", st.LocalCandidate, reboundIP)
	}
	// The standby's offer was gathered on the old address: it is rebuilt
	// after the restart, and the next customer connects from the new one.
	r.waitStandby()
	r.peer.CallEnded("cust-1")
	c.close()
	r.waitState(Waiting)
	c2 := r.join("cust-2")
	defer c2.close()
	r.waitState(Connected)
	c2.waitFrames(5)
	if st := r.syncStats(); !strings.Contains(st.LocalCandidate, reboundIP) {
		t.Fatalf("next customer: local candidate %q, want %s", st.LocalCandidate, reboundIP)
	}
}

// TestGlare: the appliance restarts ICE while the customer adds its
// microphone; both offers cross. The impolite appliance ignores the
// customer's offer, the polite customer rolls back and answers, then
// offers again; both tracks flow.
func TestGlare(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	gotAudio := make(chan struct{}, 1)
	r, c := connectedHarness(t, mock, func(cfg *Config) {
		cfg.OnTrack = func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			select {
			case gotAudio <- struct{}{}:
			default:
			}
			buf := make([]byte, 1500)
			for {
				if _, _, err := tr.Read(buf); err != nil {
					return
				}
			}
		}
	})
	r.hub.setHold(true)
	r.peer.restartICE()
	c.addAudio()
	for i := 0; i < 2; i++ { // both offers are in flight, neither delivered
		select {
		case <-r.hub.heldOffers:
		case <-time.After(waitLimit):
			t.Fatal("offers did not cross")
		}
	}
	// A candidate of the customer's (about to be ignored) offer, from an
	// ICE generation the appliance never applies: it must be dropped.
	stray := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 " + customerIP + " 9 typ host ufrag strayufrag"}
	r.hub.fromCustomer("cust-1", Signal{Candidate: &stray})
	r.hub.setHold(false)

	select {
	case <-gotAudio:
	case <-time.After(waitLimit):
		t.Fatalf("customer's audio never arrived; stats %+v", r.peer.Stats())
	}
	c.waitFrames(10)
	st := r.syncStats()
	if st.IgnoredOffers != 1 || st.DroppedCands != 1 {
		t.Fatalf("appliance ignored %d offers and dropped %d candidates, want 1 and 1", st.IgnoredOffers, st.DroppedCands)
	}
	done := make(chan int, 1)
	c.post(func() { done <- c.rollbacks })
	if rb := <-done; rb != 1 {
		t.Fatalf("customer rolled back %d times, want 1", rb)
	}
	if s := r.peer.State(); s != Connected && s != Restarting {
		t.Fatalf("state %s after glare", s)
	}
}

// TestSocketReconnectRestarts: after a socket reconnect a peer that is not
// connected restarts ICE at once (no timer), and the standby offer is
// gathered again.
func TestSocketReconnectRestarts(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r, c := connectedHarness(t, mock)
	r.waitStandby()
	before := r.syncStats()

	r.peer.SocketReconnected() // connected: nothing to restart
	if st := r.syncStats(); st.Restarts != before.Restarts || st.State != Connected {
		t.Fatalf("restarted a connected peer: %+v", st)
	}

	r.net.dropAll.Store(true)
	r.waitState(Degraded)
	r.peer.SocketReconnected()
	r.waitState(Restarting)
	st := r.syncStats()
	if st.Restarts != before.Restarts+1 || st.StandbyPrepared <= before.StandbyPrepared+1 {
		t.Fatalf("restarts %d->%d, standby prepared %d->%d", before.Restarts, st.Restarts, before.StandbyPrepared, st.StandbyPrepared)
	}
	r.net.dropAll.Store(false)
	r.driveUntil(mock, Connected, time.Second)
	c.waitFrames(5)
}

// TestNoDuplicateOffer: the restart deadline passes while our offer is
// unanswered (issue 11: a loaded appliance or page, RelayFallbackAfter
// after the join). Re-sending it then races the customer's answer: the
// duplicate reaches a page that has answered and offered its camera and
// mic itself, which rolls its offer back for it, and our answer to the
// rolled-back offer meets a page in stable ("Failed to set remote answer
// sdp: Called in wrong state: stable"). So the offer goes again only if
// it may not have reached the customer: its send failed, or our socket
// reconnected since.
func TestNoDuplicateOffer(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r := newHarness(t, mock, withSilentMic(t))
	descriptions := func(ch chan Signal) (n int) {
		for {
			select {
			case s := <-ch:
				if s.Description != nil {
					n++
				}
			default:
				return n
			}
		}
	}
	for i, tc := range []struct {
		name string
		// after runs once our offer has left (or failed to); the
		// restart deadline passes next.
		after   func(id string)
		resends int
	}{
		{"customer heard", func(id string) {
			// The W3C page's own offer (camera and mic added at once)
			// crossed ours: glare, ignored. It rolls back and answers.
			r.peer.HandleSignal(id, remote(webrtc.SDPTypeOffer, chromiumSDP(t, "offer-own-media.sdp")))
		}, 0},
		{"customer silent", func(string) {}, 0}, // a slow page: its answer is still coming
		{"offer not sent", func(string) { r.hub.failSends.Store(false) }, 1},
		{"socket reconnected", func(string) { r.peer.SocketReconnected() }, 1},
	} {
		id := fmt.Sprintf("dup-%d", i)
		sent := captured(r.hub, id)
		r.waitStandby()
		r.drainStates()
		r.hub.failSends.Store(tc.name == "offer not sent")
		r.peer.UserJoined(id)
		r.waitState(Negotiating)
		r.syncStats()
		descriptions(sent) // our offer
		tc.after(id)
		r.syncStats()
		mock.Advance(DefaultRelayFallbackAfter)
		r.syncStats()
		if tc.name != "socket reconnected" { // that one restarted at once
			r.waitState(Restarting)
			r.syncStats()
		}
		if got := descriptions(sent); got != tc.resends {
			t.Fatalf("%s: the restart sent %d descriptions, want %d", tc.name, got, tc.resends)
		}
		// The answer lands: the call negotiates on, nothing refused.
		r.peer.HandleSignal(id, remote(webrtc.SDPTypeAnswer, chromiumSDP(t, "answer-glare.sdp")))
		if st := r.syncStats(); st.RefusedDescriptions != 0 {
			t.Fatalf("%s: refused %d descriptions", tc.name, st.RefusedDescriptions)
		}
		r.peer.CallEnded(id)
		r.waitState(Waiting)
	}
}

// TestSlowFirstAttempt: the first ICE attempt hears the customer but has
// not connected when RelayFallbackAfter passes (here the appliance's
// packets to the customer are lost; in issue 11 a loaded appliance and a
// Chromium page whose glare rollback then breaks ICE restarts). It is not
// restarted while it hears the customer, up to the point where pion
// would fail a still-checking agent; then it is, and with the path back
// the call connects.
func TestSlowFirstAttempt(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	r := newHarness(t, mock)
	r.waitStandby()
	r.net.dropToCustomer.Store(true)
	c := r.join("slow-1")
	defer c.close()
	r.waitState(Negotiating)
	alive := false
	for deadline := time.Now().Add(waitLimit); !alive && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.onLoop(func() { alive = r.peer.firstAttemptAlive(r.peer.active) })
	}
	if !alive {
		t.Fatal("the appliance never heard the customer's checks")
	}
	mock.Advance(DefaultRelayFallbackAfter)
	r.syncStats()
	for i := 0; i < 4; i++ { // re-checked every second
		mock.Advance(DefaultICEKeepAlive)
		r.syncStats()
	}
	if st := r.syncStats(); st.Restarts != 0 || st.State != Negotiating {
		t.Fatalf("first attempt, still hearing the customer: %d restarts, state %s; want none, negotiating", st.Restarts, st.State)
	}
	mock.Advance(DefaultICEDisconnected + DefaultICEFailed) // pion would fail it now
	r.waitState(Restarting)
	r.net.dropToCustomer.Store(false)
	r.driveUntil(mock, Connected, 250*time.Millisecond)
	c.waitFrames(5)
}
