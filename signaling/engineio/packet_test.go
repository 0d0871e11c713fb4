package engineio

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Packet
		err  error
	}{
		{"open", `0{"sid":"x"}`, Packet{Type: Open, Data: []byte(`{"sid":"x"}`)}, nil},
		{"ping", "2", Packet{Type: Ping, Data: []byte{}}, nil},
		{"probe", "2probe", Packet{Type: Ping, Data: []byte("probe")}, nil},
		{"message", "4hello", Packet{Type: Message, Data: []byte("hello")}, nil},
		{"binary", "bAQID", Packet{Type: Message, Data: []byte{1, 2, 3}, Binary: true}, nil},
		{"empty", "", Packet{}, ErrMalformed},
		{"bad type", "9x", Packet{}, ErrMalformed},
		{"bad base64", "b!!!", Packet{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeText([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got.Type != tt.want.Type || got.Binary != tt.want.Binary || !bytes.Equal(got.Data, tt.want.Data) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	pkts := []Packet{
		{Type: Message, Data: []byte("hello")},
		{Type: Message, Data: []byte{0, 1, 0x1e, 255}, Binary: true},
		{Type: Pong},
		{Type: Message, Data: []byte(`2["ev",{"a":"\u001e"}]`)},
	}
	enc := AppendPayload(nil, pkts)
	var got []Packet
	if err := DecodePayload(enc, func(p Packet) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pkts) {
		t.Fatalf("got %d packets, want %d", len(got), len(pkts))
	}
	for i := range pkts {
		if got[i].Type != pkts[i].Type || got[i].Binary != pkts[i].Binary || !bytes.Equal(got[i].Data, pkts[i].Data) {
			t.Errorf("packet %d: got %+v, want %+v", i, got[i], pkts[i])
		}
	}
	for _, p := range pkts {
		if n := len(p.AppendText(nil)); n != p.EncodedLen() {
			t.Errorf("EncodedLen %d != encoded %d", p.EncodedLen(), n)
		}
	}
}

func TestDecodePayloadErrors(t *testing.T) {
	for _, in := range []string{"", "4a\x1e", "\x1e4a", "4a\x1e\x1e4b", "4a\x1eZ"} {
		if err := DecodePayload([]byte(in), func(Packet) error { return nil }); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodePayload(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

func TestParseHandshake(t *testing.T) {
	h, err := ParseHandshake([]byte(`{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`))
	if err != nil || h.SID != "abc" || h.MaxPayload != 1_000_000 || h.PingInterval != 25000 {
		t.Fatalf("got %+v, %v", h, err)
	}
	for _, bad := range []string{`{}`, `[]`, `{"sid":"a"}`, `nope`} {
		if _, err := ParseHandshake([]byte(bad)); !errors.Is(err, ErrHandshake) {
			t.Errorf("ParseHandshake(%s) = %v", bad, err)
		}
	}
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "bAQID\x1e4x", `0{"sid":"a","pingInterval":1,"pingTimeout":1}`, "2\x1e3\x1e6", "", "\x1e"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkts []Packet
		err := DecodePayload(data, func(p Packet) error {
			pkts = append(pkts, Packet{Type: p.Type, Binary: p.Binary, Data: append([]byte(nil), p.Data...)})
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// What decodes must re-encode to something that decodes the same.
		enc := AppendPayload(nil, pkts)
		i := 0
		if err := DecodePayload(enc, func(p Packet) error {
			if p.Type != pkts[i].Type || p.Binary != pkts[i].Binary || !bytes.Equal(p.Data, pkts[i].Data) {
				t.Fatalf("round trip %d: %+v != %+v", i, p, pkts[i])
			}
			i++
			return nil
		}); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		_, _ = ParseHandshake(data)
	})
}

func BenchmarkAppendPayload(b *testing.B) {
	pkts := []Packet{{Type: Message, Data: []byte(`2["signal",{"to":"u1","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host","sdpMid":"0","sdpMLineIndex":0}}]`)}, {Type: Pong}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPayload(buf[:0], pkts)
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	enc := AppendPayload(nil, []Packet{{Type: Message, Data: []byte(`2["signal",{"to":"u1"}]`)}, {Type: Ping}, {Type: Message, Data: []byte{1, 2, 3}, Binary: true}})
	fn := func(Packet) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodePayload(enc, fn); err != nil {
			b.Fatal(err)
		}
	}
}
