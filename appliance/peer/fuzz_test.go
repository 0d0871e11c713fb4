package peer

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/webrtc/v4"
)

// FuzzHandleSignal feeds whatever a customer's browser (or anyone who got
// hold of its socket) might send as `signal` into a live Peer that is
// negotiating with that customer: descriptions with arbitrary SDP of every
// type, candidates with arbitrary lines and m-line references, end of
// candidates. Bad input must be refused with a log line; the Peer must not
// panic and its Run goroutine must keep answering.
func FuzzHandleSignal(f *testing.F) {
	offer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\n" +
		"a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 " +
		"AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n" +
		"a=setup:actpass\r\na=rtpmap:96 H264/90000\r\na=recvonly\r\n"
	f.Add(`{"description":{"type":"answer","sdp":` + quote(offer) + `}}`)
	f.Add(`{"description":{"type":"offer","sdp":` + quote(offer) + `}}`)
	f.Add(`{"description":{"type":"pranswer","sdp":"v=0\r\n"}}`)
	f.Add(`{"description":{"type":"rollback","sdp":""}}`)
	f.Add(`{"description":{"type":"answer","sdp":"m=audio 0 RTP/AVP 0\r\nm=video -1 x\r\n"}}`)
	f.Add(`{"candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`)
	f.Add(`{"candidate":{"candidate":"candidate:1 1 udp 1 999.1.1.1 70000 typ relay raddr x rport y","sdpMid":"7","sdpMLineIndex":65535}}`)
	f.Add(`{"candidate":{"candidate":"","sdpMid":null}}`)
	f.Add(`{"candidate":null}`)

	// Real Chromium 156 descriptions (the W3C page variants,
	// testdata/chromium) as offers and as answers, and the hostile edits
	// of TestBadInput.
	for _, name := range []string{"answer.sdp", "answer-glare.sdp", "answer-old-ids.sdp", "offer-own-media.sdp", "reoffer-reuse.sdp", "reoffer-new-mlines.sdp"} {
		raw := chromiumSDP(f, name)
		for _, typ := range []string{"offer", "answer", "pranswer"} {
			f.Add(`{"description":{"type":"` + typ + `","sdp":` + quote(raw) + `}}`)
		}
	}
	f.Add(`{"description":{"type":"offer","sdp":` + quote(unknownCodecsOffer(f)) + `}}`)
	f.Add(`{"description":{"type":"offer","sdp":` + quote(extraMLinesOffer(f)) + `}}`)
	f.Add(`{"description":{"type":"answer","sdp":` + quote(rejectedAnswer(f)) + `}}`)

	r := newHarness(f, clockwork.NewRealClock(), withSilentMic(f))
	r.waitStandby()
	r.peer.UserJoined("fuzz-1") // nobody answers: the Peer stays negotiating with fuzz-1
	r.waitState(Negotiating)

	f.Fuzz(func(t *testing.T, msg string) {
		var s Signal
		if err := json.Unmarshal([]byte(msg), &s); err != nil {
			return // the socket layer refuses it before the Peer sees it
		}
		r.peer.HandleSignal("fuzz-1", s)
		// The harness's helpers report through f, which may not be used in
		// here: wait for the Run goroutine by hand.
		done := make(chan struct{})
		r.peer.enqueue(event{kind: evSync, done: done})
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatalf("the Run goroutine stopped answering after %q", msg)
		}
		if r.peer.State() == Idle {
			t.Fatalf("the Peer stopped after %q", msg)
		}
		// No dead end: an offer is answered at once or the call moves to
		// a fresh PeerConnection (negotiation.go, renew).
		done = make(chan struct{})
		var st webrtc.SignalingState
		r.peer.enqueue(event{kind: evSync, done: done, hook: func() {
			if c := r.peer.active; c != nil {
				st = c.pc.SignalingState()
			}
		}})
		<-done
		if st == webrtc.SignalingStateHaveRemoteOffer {
			t.Fatalf("left in have-remote-offer after %q", msg)
		}
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
