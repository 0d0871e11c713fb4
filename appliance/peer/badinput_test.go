package peer

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"tether/internal/testenv"
)

type syncBuffer = testenv.SyncBuffer

// editSDP parses raw, lets edit change it and returns it marshalled.
func editSDP(tb testing.TB, raw string, edit func(*sdp.SessionDescription)) string {
	tb.Helper()
	var d sdp.SessionDescription
	must(tb, d.UnmarshalString(raw))
	edit(&d)
	out, err := d.Marshal()
	must(tb, err)
	return string(out)
}

// withoutAttrs drops the attributes whose key is in keys.
func withoutAttrs(attrs []sdp.Attribute, keys ...string) []sdp.Attribute {
	var out []sdp.Attribute
	for _, a := range attrs {
		drop := false
		for _, k := range keys {
			drop = drop || a.Key == k
		}
		if !drop {
			out = append(out, a)
		}
	}
	return out
}

// unknownCodecsOffer is Chromium's re-offer with every codec replaced by
// one nobody implements.
func unknownCodecsOffer(tb testing.TB) string {
	return editSDP(tb, chromiumSDP(tb, "reoffer-reuse.sdp"), func(d *sdp.SessionDescription) {
		for _, m := range d.MediaDescriptions {
			if m.MediaName.Media == "application" {
				continue
			}
			m.MediaName.Formats = []string{"120"}
			m.Attributes = append(withoutAttrs(m.Attributes, "rtpmap", "fmtp", "rtcp-fb", "ssrc", "ssrc-group"),
				sdp.Attribute{Key: "rtpmap", Value: "120 X-NOBODY/90000"})
		}
	})
}

// extraMLinesOffer is Chromium's re-offer plus two more video m-lines: a
// data channel and three video sections in all.
func extraMLinesOffer(tb testing.TB) string {
	return editSDP(tb, chromiumSDP(tb, "reoffer-reuse.sdp"), func(d *sdp.SessionDescription) {
		var video *sdp.MediaDescription
		for _, m := range d.MediaDescriptions {
			if m.MediaName.Media == "video" {
				video = m
			}
		}
		for _, mid := range []string{"5", "6"} {
			m := *video
			m.Attributes = append(withoutAttrs(video.Attributes, "mid", "ssrc", "ssrc-group", "msid", "sendrecv", "candidate", "end-of-candidates"),
				sdp.Attribute{Key: "mid", Value: mid}, sdp.Attribute{Key: "recvonly"})
			d.MediaDescriptions = append(d.MediaDescriptions, &m)
		}
		for i, a := range d.Attributes {
			if a.Key == "group" {
				d.Attributes[i].Value += " 5 6"
			}
		}
	})
}

// rejectedAnswer is Chromium's answer with every media m-line rejected
// (port 0, RFC 3264 §6).
func rejectedAnswer(tb testing.TB) string {
	s := chromiumSDP(tb, "answer.sdp")
	s = strings.ReplaceAll(s, "m=video 9 ", "m=video 0 ")
	return strings.ReplaceAll(s, "m=audio 9 ", "m=audio 0 ")
}

func cand(s, mid string, idx uint16) Signal {
	return Signal{Candidate: &webrtc.ICECandidateInit{Candidate: s, SDPMid: &mid, SDPMLineIndex: &idx}}
}

// TestBadInput: whatever a browser sends, the call does not get stuck in
// a signalling state it cannot leave, a refused description is logged
// with the reason and counted, and the next customer connects. Each case
// starts a call answered by Chromium's real answer (testdata/chromium).
func TestBadInput(t *testing.T) {
	mock := clockwork.NewFakeClockAt(time.Unix(0, 0))
	logs := &syncBuffer{}
	r := newHarness(t, mock, withSilentMic(t), func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	answer := remote(webrtc.SDPTypeAnswer, chromiumSDP(t, "answer.sdp"))
	reoffer := remote(webrtc.SDPTypeOffer, chromiumSDP(t, "reoffer-reuse.sdp"))
	hostCand := "candidate:2853387043 1 udp 2122194687 192.0.2.2 41372 typ host generation 0 ufrag " + "TpJP" + " network-id 1"

	for _, tc := range []struct {
		name string
		// run feeds the case after the appliance's offer; it returns
		// the types of the descriptions the appliance must send next.
		run  func(t *testing.T, id string) []string
		want func(t *testing.T, before, after Stats)
	}{
		{"offer with unknown codecs only", func(t *testing.T, id string) []string {
			r.peer.HandleSignal(id, answer)
			r.peer.HandleSignal(id, remote(webrtc.SDPTypeOffer, unknownCodecsOffer(t)))
			return []string{"answer"}
		}, nil},
		{"offer with extra m-lines (data + 3 video)", func(t *testing.T, id string) []string {
			r.peer.HandleSignal(id, answer)
			r.peer.HandleSignal(id, remote(webrtc.SDPTypeOffer, extraMLinesOffer(t)))
			return []string{"answer"}
		}, func(t *testing.T, before, after Stats) {
			if after.RefusedDescriptions != before.RefusedDescriptions {
				t.Errorf("a valid offer with extra m-lines was refused")
			}
		}},
		{"answer with rejected m-lines (port 0)", func(t *testing.T, id string) []string {
			r.peer.HandleSignal(id, remote(webrtc.SDPTypeAnswer, rejectedAnswer(t)))
			r.peer.restartICE() // and the call can still negotiate
			return []string{"offer"}
		}, nil},
		{"offer during an ICE restart", func(t *testing.T, id string) []string {
			r.peer.HandleSignal(id, answer)
			r.peer.restartICE()
			r.peer.HandleSignal(id, reoffer) // crosses our restart offer: ignored
			r.peer.HandleSignal(id, answer)  // the polite side answers ours...
			r.peer.HandleSignal(id, reoffer) // ...and offers again
			return []string{"offer", "answer"}
		}, func(t *testing.T, before, after Stats) {
			if after.IgnoredOffers != before.IgnoredOffers+1 {
				t.Errorf("ignored %d offers, want 1", after.IgnoredOffers-before.IgnoredOffers)
			}
		}},
		{"offer that cannot be answered (two streams in one m-line)", func(t *testing.T, id string) []string {
			r.peer.HandleSignal(id, answer)
			// Without its ssrc-group the RTX stream reads as a second
			// track in the m-line (Plan B): pion applies the offer, then
			// cannot answer it.
			r.peer.HandleSignal(id, remote(webrtc.SDPTypeOffer, editSDP(t, chromiumSDP(t, "reoffer-reuse.sdp"), func(d *sdp.SessionDescription) {
				for _, m := range d.MediaDescriptions {
					m.Attributes = withoutAttrs(m.Attributes, "ssrc-group")
				}
			})))
			return []string{"offer"} // the call moved to a fresh PeerConnection
		}, func(t *testing.T, before, after Stats) {
			if after.Renewed != before.Renewed+1 || after.RefusedDescriptions != before.RefusedDescriptions+1 {
				t.Errorf("renewed %d, refused %d; want 1 and 1", after.Renewed-before.Renewed, after.RefusedDescriptions-before.RefusedDescriptions)
			}
		}},
		{"pranswer, then nothing", func(t *testing.T, id string) []string {
			pr := chromiumSDP(t, "answer.sdp")
			r.peer.HandleSignal(id, remote(webrtc.SDPTypePranswer, pr))
			r.syncStats()
			mock.Advance(DefaultRelayFallbackAfter) // the first restart deadline
			return []string{"offer"}
		}, func(t *testing.T, before, after Stats) {
			if after.Renewed != before.Renewed+1 {
				t.Errorf("renewed %d, want 1", after.Renewed-before.Renewed)
			}
		}},
		{"garbage, duplicate and foreign candidates", func(t *testing.T, id string) []string {
			r.peer.HandleSignal(id, answer)
			for _, s := range []Signal{
				cand(hostCand, "0", 0), cand(hostCand, "0", 0), // duplicate
				cand("candidate:garbage", "0", 0),
				cand(strings.Repeat("x", 70000), "0", 0),
				cand(hostCand, "99", 65535),                                                   // no such m-line
				cand("candidate:1 1 udp 1 999.1.1.1 70000 typ relay raddr x rport y", "1", 1), // bad address and port
				cand(strings.Replace(hostCand, "TpJP", "elsewhere", 1), "0", 0),               // another ICE generation
				{EndOfCandidates: true}, {EndOfCandidates: true},
			} {
				r.peer.HandleSignal(id, s)
			}
			r.peer.HandleSignal(id, reoffer)
			return []string{"answer"}
		}, func(t *testing.T, before, after Stats) {
			if after.RefusedCandidates == before.RefusedCandidates {
				t.Errorf("no candidate refused")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "bad-" + strings.Fields(tc.name)[0] + fmt.Sprint(time.Now().UnixNano()%1e6)
			sent := captured(r.hub, id)
			r.waitStandby()
			before := r.syncStats()
			r.peer.UserJoined(id)
			if d := nextDescription(t, sent); d.Type != webrtc.SDPTypeOffer {
				t.Fatalf("first description %s", d.Type)
			}
			defer r.peer.CallEnded(id)
			for _, want := range tc.run(t, id) {
				d := nextDescription(t, sent)
				if d.Type.String() != want {
					t.Fatalf("the appliance sent an %s, want an %s", d.Type, want)
				}
				checkOneIDPerURI(t, want, d.SDP)
			}
			after := r.syncStats()
			if tc.want != nil {
				tc.want(t, before, after)
			}
			// Not stuck: the call's PeerConnection is stable or waits for
			// the answer to an offer it has sent.
			var st webrtc.SignalingState
			r.onLoop(func() { st = r.peer.active.pc.SignalingState() })
			if st != webrtc.SignalingStateStable && st != webrtc.SignalingStateHaveLocalOffer {
				t.Errorf("left in %s", st)
			}
			if after.RefusedDescriptions > before.RefusedDescriptions && !strings.Contains(logs.String(), "customer's description refused") {
				t.Errorf("a refusal without its log line:\n%s", logs.String())
			}

			// The next customer still connects.
			r.peer.CallEnded(id)
			r.waitState(Waiting)
			r.waitStandby()
			next := r.join(id + "-next")
			defer next.close()
			r.waitState(Connected)
			next.waitFrames(5)
			next.close()
			r.peer.CallEnded(next.id)
			r.waitState(Waiting)
		})
	}
}
