package peer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Real descriptions Chromium 156 sent in TestChromiumW3CPage (the W3C
// example page, testdata/customer-w3c.html), kept as fixtures: what a
// browser sends is replayed against the appliance without a browser. The
// appliance's offer has five m-lines (conn.go): video and audio recvonly
// (the customer's), video and audio sendonly (ours), data.
//
//	answer.sdp              answer to the appliance's offer, nothing to send yet (recvonly m-lines inactive)
//	reoffer-reuse.sdp       its next offer: camera and mic on the appliance's recvonly m-lines (media added late)
//	answer-glare.sdp        answer after rolling its own offer back (glare): camera and mic ride it
//	reoffer-new-mlines.sdp  its next offer: a second camera and mic on two new m-lines
//	offer-own-media.sdp     its own first offer (audio, video; the one glare discards)
//	answer-old-ids.sdp      an answer to the appliance's three-m-line offer before issue 11's fix (ids mid=1 … transport-cc=4)
func chromiumSDP(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "chromium", name))
	must(tb, err)
	// Whatever a checkout did to line ends, SDP lines end in CRLF (RFC 8866 §5).
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// extIDs maps each m-line's mid to its extmap URI -> id.
func extIDs(tb testing.TB, raw string) map[string]map[string]int {
	tb.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		tb.Fatalf("parse SDP: %v\n%s", err, raw)
	}
	out := map[string]map[string]int{}
	for i, m := range d.MediaDescriptions {
		mid, _ := m.Attribute(sdp.AttrKeyMID)
		if mid == "" {
			mid = "#" + string(rune('0'+i))
		}
		ids := map[string]int{}
		for _, a := range m.Attributes {
			if a.Key != sdp.AttrKeyExtMap {
				continue
			}
			var e sdp.ExtMap
			if err := e.Unmarshal("extmap:" + a.Value); err != nil {
				tb.Fatalf("m-line %s: extmap %q: %v", mid, a.Value, err)
			}
			ids[e.URI.String()] = e.Value
		}
		out[mid] = ids
	}
	return out
}

// checkOneIDPerURI: within the description (one BUNDLE group) each URI has
// one id and each id one URI, across every m-line.
func checkOneIDPerURI(tb testing.TB, what, raw string) {
	tb.Helper()
	byURI, byID := map[string]int{}, map[int]string{}
	for mid, ids := range extIDs(tb, raw) {
		for uri, id := range ids {
			if old, ok := byURI[uri]; ok && old != id {
				tb.Errorf("%s: %s has id %d on m-line %s and %d elsewhere", what, uri, id, mid, old)
			}
			if old, ok := byID[id]; ok && old != uri {
				tb.Errorf("%s: id %d is %s on m-line %s and %s elsewhere", what, id, uri, mid, old)
			}
			byURI[uri], byID[id] = id, uri
		}
	}
}

// checkAnswerIDs: every extension the answer keeps has the id the offer
// gave it on the same m-line (RFC 8285 §6), and the answer adds none.
func checkAnswerIDs(tb testing.TB, offer, answer string) {
	tb.Helper()
	off := extIDs(tb, offer)
	for mid, ids := range extIDs(tb, answer) {
		for uri, id := range ids {
			want, ok := off[mid][uri]
			switch {
			case !ok:
				tb.Errorf("answer m-line %s: %s (id %d) was not offered", mid, uri, id)
			case want != id:
				tb.Errorf("answer m-line %s: %s has id %d, the offer said %d", mid, uri, id, want)
			}
		}
	}
}

// chromiumDefaultIDs are the ids Chromium gives these URIs in its own
// offers (offer-own-media.sdp); the appliance's offers must agree.
var chromiumDefaultIDs = map[string]int{
	sdp.AudioLevelURI:  1,
	sdp.ABSSendTimeURI: 2,
	sdp.TransportCCURI: 3,
	sdp.SDESMidURI:     4,
}

func checkChromiumIDs(tb testing.TB, what, raw string) {
	tb.Helper()
	for mid, ids := range extIDs(tb, raw) {
		for uri, id := range ids {
			if want, ok := chromiumDefaultIDs[uri]; ok && id != want {
				tb.Errorf("%s m-line %s: %s has id %d, Chromium's default is %d", what, mid, uri, id, want)
			}
		}
	}
}

// captured routes the signals the appliance sends to id into a channel.
func captured(h *hub, id string) chan Signal {
	ch := make(chan Signal, 256)
	h.mu.Lock()
	h.sinks[id] = func(s Signal) { ch <- s }
	h.mu.Unlock()
	return ch
}

// nextDescription returns the next description the appliance sent on ch.
func nextDescription(tb testing.TB, ch chan Signal) webrtc.SessionDescription {
	tb.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case s := <-ch:
			if s.Description != nil {
				return *s.Description
			}
		case <-deadline:
			tb.Fatal("the appliance sent no description")
		}
	}
}

func remote(typ webrtc.SDPType, raw string) Signal {
	return Signal{Description: &webrtc.SessionDescription{Type: typ, SDP: raw}}
}

// TestHeaderExtensionIDs: every offer and answer the appliance makes, for
// several customers on standby PeerConnections, through renegotiation (the
// customer adding camera and mic on the appliance's m-lines or on new
// ones) and ICE restarts, gives one id per URI across all its m-lines,
// uses Chromium's default ids in its offers, and takes the offerer's ids
// when answering (issue 11).
func TestHeaderExtensionIDs(t *testing.T) {
	r := newHarness(t, clockwork.NewRealClock(), withSilentMic(t))
	flows := []struct{ answer, reoffer string }{
		{"answer.sdp", "reoffer-reuse.sdp"},
		{"answer-glare.sdp", "reoffer-new-mlines.sdp"},
		{"answer.sdp", "reoffer-reuse.sdp"},
	}
	for i, f := range flows {
		id := "sdp-" + string(rune('a'+i))
		sent := captured(r.hub, id)
		r.waitStandby()
		r.peer.UserJoined(id)
		offer := nextDescription(t, sent)
		if offer.Type != webrtc.SDPTypeOffer {
			t.Fatalf("%s: first description is an %s", id, offer.Type)
		}
		checkOneIDPerURI(t, id+" offer", offer.SDP)
		checkChromiumIDs(t, id+" offer", offer.SDP)
		// Both media m-lines (video 0, audio 1) carry the extensions
		// registered for both kinds: issue 11's offer had sdes:mid on
		// video only.
		ids := extIDs(t, offer.SDP)
		for _, uri := range []string{sdp.SDESMidURI, sdp.TransportCCURI, sdp.ABSSendTimeURI} {
			if ids["0"][uri] == 0 || ids["1"][uri] == 0 {
				t.Errorf("%s offer: %s not on both media m-lines: %v", id, uri, ids)
			}
		}

		r.peer.HandleSignal(id, remote(webrtc.SDPTypeAnswer, chromiumSDP(t, f.answer)))
		reoffer := chromiumSDP(t, f.reoffer)
		r.peer.HandleSignal(id, remote(webrtc.SDPTypeOffer, reoffer))
		answer := nextDescription(t, sent)
		if answer.Type != webrtc.SDPTypeAnswer {
			t.Fatalf("%s: the customer's offer got an %s", id, answer.Type)
		}
		checkOneIDPerURI(t, id+" answer", answer.SDP)
		checkAnswerIDs(t, reoffer, answer.SDP)
		if n := len(extIDs(t, answer.SDP)); n != len(extIDs(t, reoffer)) {
			t.Errorf("%s: answer has %d m-lines, the offer %d", id, n, len(extIDs(t, reoffer)))
		}

		// ICE restart after the renegotiation: the new offer keeps the
		// negotiated ids on every m-line, old and new.
		r.peer.restartICE()
		restart := nextDescription(t, sent)
		if restart.Type != webrtc.SDPTypeOffer {
			t.Fatalf("%s: ICE restart sent an %s", id, restart.Type)
		}
		checkOneIDPerURI(t, id+" restart offer", restart.SDP)
		checkAnswerIDs(t, reoffer, restart.SDP) // same ids as negotiated
		checkChromiumIDs(t, id+" restart offer", restart.SDP)

		r.peer.CallEnded(id)
		r.waitState(Waiting)
	}
}
