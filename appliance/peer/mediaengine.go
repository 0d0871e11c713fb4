package peer

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// RTP header extensions (RFC 8285) and the ids they get in our offers.
//
// Within one BUNDLE group an extension id names one URI on every m-line
// (RFC 9143, "RTP header extensions consideration"; Chromium enforces it
// and refuses a description that breaks it). pion assigns ids in the order extensions are registered,
// first free id from 1, one id per URI across kinds; with pion's defaults
// (RegisterDefaultInterceptors) that gave sdes:mid=1, rtp-stream-id=2,
// repaired-rtp-stream-id=3 on video only and transport-cc=4 on both.
// Chromium answers with those ids, but when its page later adds its own
// camera and microphone on new m-lines (the W3C Perfect Negotiation page
// after a glare rollback does), Chromium 156 puts its default ids on them
// (ssrc-audio-level=1, ..., sdes:mid=4) and then refuses its own offer: "A
// BUNDLE group contains a codec collision for header extension id=1"
// (issue 11). So the appliance uses Chromium's default ids for the URIs it
// registers, and registers each on both kinds where Chromium does:
//
//	1 ssrc-audio-level  audio       RFC 6464; received from the customer, never sent
//	2 abs-send-time     audio+video received, never sent (pion has no writer)
//	3 transport-cc      audio+video TWCC feedback for the customer's media
//	4 sdes:mid          audio+video RFC 9143 MID; demultiplexes the customer's streams
//
// Advertising an extension we do not send is allowed (RFC 8285 §6: a
// negotiated extension need not be used). The simulcast ids pion's
// defaults add (rtp-stream-id, repaired-rtp-stream-id) are left out: the
// appliance neither sends nor receives simulcast. When answering, pion
// takes the offerer's ids, and in later offers on the same PeerConnection it
// keeps the negotiated ones, so the rule holds after renegotiation and ICE
// restarts too (TestHeaderExtensionIDs).
var headerExtensions = []struct {
	uri   string
	kinds []webrtc.RTPCodecType
}{
	{sdp.AudioLevelURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
	{sdp.ABSSendTimeURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	{sdp.TransportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
}

// newMediaEngine registers pion's default codecs, the header extensions
// above in that order (the order is their id), and the interceptors of
// pion's RegisterDefaultInterceptors minus the simulcast extensions: NACK
// responder and generator, RTCP sender/receiver reports (remote loss in
// GetStats), stats, TWCC feedback.
func newMediaEngine() (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, nil, fmt.Errorf("peer: register codecs: %w", err)
	}
	for _, e := range headerExtensions {
		for _, k := range e.kinds {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, k); err != nil {
				return nil, nil, fmt.Errorf("peer: register header extension %s: %w", e.uri, err)
			}
		}
	}
	reg := &interceptor.Registry{}
	for _, f := range []func() error{
		func() error { return webrtc.ConfigureNack(me, reg) },
		func() error { return webrtc.ConfigureRTCPReports(reg) },
		func() error { return webrtc.ConfigureStatsInterceptor(reg) },
		// Registers transport-cc again for both kinds: already in the
		// list, so its id stays 3.
		func() error { return webrtc.ConfigureTWCCSender(me, reg) },
	} {
		if err := f(); err != nil {
			return nil, nil, fmt.Errorf("peer: register interceptors: %w", err)
		}
	}
	return me, reg, nil
}
