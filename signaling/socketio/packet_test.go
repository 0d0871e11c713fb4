package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		in    string
		typ   PacketType
		nsp   string
		id    int64
		data  string
		atts  int
		isErr bool
	}{
		{in: `0`, typ: Connect, nsp: "/", id: NoID},
		{in: `0{"token":"x"}`, typ: Connect, nsp: "/", id: NoID, data: `{"token":"x"}`},
		{in: `0/admin,{"sid":"a"}`, typ: Connect, nsp: "/admin", id: NoID, data: `{"sid":"a"}`},
		{in: `1/admin,`, typ: Disconnect, nsp: "/admin", id: NoID},
		{in: `1/admin`, typ: Disconnect, nsp: "/admin", id: NoID},
		{in: `2["hello",1]`, typ: Event, nsp: "/", id: NoID, data: `["hello",1]`},
		{in: `212["hello"]`, typ: Event, nsp: "/", id: 12, data: `["hello"]`},
		{in: `2/chat,7["m"]`, typ: Event, nsp: "/chat", id: 7, data: `["m"]`},
		{in: `37[{"ok":true}]`, typ: Ack, nsp: "/", id: 7, data: `[{"ok":true}]`},
		{in: `4{"message":"session_expired"}`, typ: ConnectError, nsp: "/", id: NoID, data: `{"message":"session_expired"}`},
		{in: `52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, typ: BinaryEvent, nsp: "/", id: NoID, data: `["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, atts: 2},
		{in: `61-/x,3[{"_placeholder":true,"num":0}]`, typ: BinaryAck, nsp: "/x", id: 3, data: `[{"_placeholder":true,"num":0}]`, atts: 1},
		{in: ``, isErr: true},
		{in: `7`, isErr: true},
		{in: `2{"a":1}`, isErr: true},
		{in: `2["a"`, isErr: true},
		{in: `3["no id"]`, isErr: true},
		{in: `5["no count"]`, isErr: true},
		{in: `5999-["too many"]`, isErr: true},
		{in: `299999999999999999999["big id"]`, isErr: true},
		{in: `0[1]`, isErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, n, err := DecodeText([]byte(tt.in))
			if tt.isErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.typ || p.Namespace != tt.nsp || p.ID != tt.id || string(p.Data) != tt.data || n != tt.atts {
				t.Fatalf("got %v %q id=%d data=%s atts=%d", p.Type, p.Namespace, p.ID, p.Data, n)
			}
			// Re-encoding gives the canonical form back.
			p.Attachments = make([][]byte, n)
			if got := string(p.AppendText(nil)); got != tt.in && !(tt.in == `1/admin` && got == `1/admin,`) {
				t.Errorf("re-encoded %q, want %q", got, tt.in)
			}
		})
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	blob := []byte{0, 1, 2, 0xff}
	data, bufs, err := EncodeArgs("upload", []any{"name", blob, map[string]any{"inner": []any{blob, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 2 {
		t.Fatalf("%d attachments, want 2", len(bufs))
	}
	p := Packet{Type: BinaryEvent, ID: 4, Data: data, Attachments: bufs}
	var d Decoder
	got, err := d.AddText(p.AppendText(nil))
	if err != nil || got != nil {
		t.Fatalf("AddText = %v, %v; want pending", got, err)
	}
	for i, b := range bufs {
		got, err = d.AddBinary(b)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != (i == len(bufs)-1) {
			t.Fatalf("attachment %d: complete=%v", i, got != nil)
		}
	}
	name, args, err := ParseArgs(got.Data, got.Attachments, true)
	if err != nil || name != "upload" || args.Len() != 3 {
		t.Fatalf("ParseArgs = %q, %d, %v", name, args.Len(), err)
	}
	var b []byte
	if err := args.Decode(1, &b); err != nil || !bytes.Equal(b, blob) {
		t.Fatalf("Decode binary = %v, %v", b, err)
	}
	v, err := args.Value(2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"inner": []any{blob, float64(3)}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("Value = %#v, want %#v", v, want)
	}
}

func TestDecoderErrors(t *testing.T) {
	var d Decoder
	if _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("stray binary: %v", err)
	}
	if _, err := d.AddText([]byte(`51-["x",{"_placeholder":true,"num":0}]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddText([]byte(`2["y"]`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("text while binary pending: %v", err)
	}
	// The decoder recovers: the next complete packet decodes.
	if p, err := d.AddText([]byte(`2["y"]`)); err != nil || p == nil {
		t.Fatalf("after reset: %v %v", p, err)
	}
}

func TestArgsDecodeErrors(t *testing.T) {
	_, args, err := ParseArgs(json.RawMessage(`["ev",{"_placeholder":true,"num":5}]`), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	// A placeholder without its attachment is not binary: it decodes as the
	// JSON it is, which is not a byte slice.
	if err := args.Decode(0, &b); err == nil {
		t.Fatal("expected error decoding a dangling placeholder into []byte")
	}
	if err := args.Decode(3, &b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("out of range: %v", err)
	}
	if _, _, err := ParseArgs(json.RawMessage(`[1]`), nil, true); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-string name: %v", err)
	}
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{`0`, `0{"token":"x"}`, `2/chat,7["m",{"a":[1,2]}]`, `37[{"ok":true}]`, `4{"message":"x"}`,
		`52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, `61-/x,3[{"_placeholder":true,"num":0}]`, `1/a`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, n, err := DecodeText(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error kind: %v", err)
			}
			return
		}
		p.Attachments = make([][]byte, n)
		enc := p.AppendText(nil)
		q, m, err := DecodeText(enc)
		if err != nil || q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || !bytes.Equal(q.Data, p.Data) || m != n {
			t.Fatalf("round trip of %q via %q: %+v %d %v", data, enc, q, m, err)
		}
		if p.Type == Event || p.Type == BinaryEvent {
			_, args, err := ParseArgs(p.Data, p.Attachments, true)
			if err == nil {
				_, _ = args.Values()
			}
		}
	})
}

func BenchmarkEncodeEvent(b *testing.B) {
	cand := map[string]any{"to": "u1", "candidate": map[string]any{"candidate": "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		data, _, err := EncodeArgs("signal", []any{cand})
		if err != nil {
			b.Fatal(err)
		}
		p := Packet{Type: Event, ID: 42, Data: data}
		buf = p.AppendText(buf[:0])
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	in := []byte(`242["signal",{"from":"u1","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host","sdpMid":"0","sdpMLineIndex":0}}]`)
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := DecodeText(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := ParseArgs(p.Data, nil, true); err != nil {
			b.Fatal(err)
		}
	}
}
