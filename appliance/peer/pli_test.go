package peer

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// TestRequestCustomerKeyframe (issue 15 §4): the display's keyframe
// request reaches the customer's sender as an RTCP PLI for that SSRC on
// the call's PeerConnection.
func TestRequestCustomerKeyframe(t *testing.T) {
	r, c := connectedHarness(t, clockwork.NewFakeClockAt(time.Unix(0, 0)), withSilentMic(t))
	tr := c.addAudio()
	var sender *webrtc.RTPSender
	done := make(chan struct{})
	c.post(func() {
		defer close(done)
		for _, s := range c.pc.GetSenders() {
			if s.Track() == tr {
				sender = s
			}
		}
	})
	<-done
	if sender == nil {
		t.Fatal("the customer's microphone has no sender")
	}
	ssrc := uint32(sender.GetParameters().Encodings[0].SSRC)
	got := make(chan struct{})
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if pli, ok := p.(*rtcp.PictureLossIndication); ok && pli.MediaSSRC == ssrc {
					close(got)
					return
				}
			}
		}
	}()
	// The customer's track rides a renegotiation: ask until it is in
	// place (every request is a fresh PLI; the display rate-limits its own).
	deadline := time.After(waitLimit)
	for {
		r.peer.RequestCustomerKeyframe(ssrc)
		select {
		case <-got:
			return
		case <-deadline:
			t.Fatalf("no PLI for ssrc %d reached the customer", ssrc)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
