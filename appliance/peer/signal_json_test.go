package peer

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestSignalJSON(t *testing.T) {
	mid, idx := "0", uint16(0)
	for _, tc := range []struct {
		name string
		in   string
		want Signal
		err  bool
	}{
		{"offer", `{"description":{"type":"offer","sdp":"v=0\r\n"}}`,
			Signal{Description: &webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: "v=0\r\n"}}, false},
		{"candidate", `{"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
			Signal{Candidate: &webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMid: &mid, SDPMLineIndex: &idx}}, false},
		{"end of candidates", `{"candidate":null}`, Signal{EndOfCandidates: true}, false},
		{"empty", `{}`, Signal{}, true},
		{"both", `{"description":{"type":"answer","sdp":""},"candidate":null}`, Signal{}, true},
		{"bad type", `{"description":{"type":"hello","sdp":""}}`, Signal{}, true},
		{"bad candidate", `{"candidate":7}`, Signal{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Signal
			err := got.UnmarshalJSON([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrBadSignal) {
					t.Fatalf("err = %v, want ErrBadSignal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(tc.want)
			if string(a) != string(b) {
				t.Fatalf("got %s, want %s", a, b)
			}
			var back Signal
			if err := json.Unmarshal(a, &back); err != nil {
				t.Fatalf("round trip %s: %v", a, err)
			}
		})
	}
}

func FuzzSignalJSON(f *testing.F) {
	f.Add([]byte(`{"description":{"type":"offer","sdp":"v=0\r\n"}}`))
	f.Add([]byte(`{"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`))
	f.Add([]byte(`{"candidate":null}`))
	f.Add([]byte(`{"candidate": null , "description": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Signal
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal %+v: %v", s, err)
		}
		var back Signal
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
	})
}
