package siotest

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestEncodeArgs(t *testing.T) {
	tests := []struct {
		name string
		args []any
		want string
	}{
		{name: "plain", args: []any{"a", 1, nil}, want: `["a",1,null]`},
		{name: "bytes", args: []any{[]byte{1, 2, 3}}, want: `[{"$binary":"AQID"}]`},
		{name: "nested", args: []any{map[string]any{"x": []any{[]byte{}}}}, want: `[{"x":[{"$binary":""}]}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(EncodeArgs(tc.args))
			if err != nil || string(got) != tc.want {
				t.Errorf("EncodeArgs = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestDecodeBinaryRejects(t *testing.T) {
	for _, in := range []string{`"AQID"`, `{}`, `{"$binary":1}`, `{"$binary":"@@"}`, `[`} {
		if b, ok := DecodeBinary(json.RawMessage(in)); ok {
			t.Errorf("DecodeBinary(%s) = %v, true; want false", in, b)
		}
	}
}

// FuzzDecodeBinary checks that DecodeBinary never panics and that whatever
// Binary encodes decodes back to the same bytes.
func FuzzDecodeBinary(f *testing.F) {
	f.Add([]byte(`{"$binary":"AQID"}`))
	f.Add([]byte(`{"$binary":""}`))
	f.Add([]byte(`{"$binary":"@"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeBinary(data)
		enc, err := Binary(data).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := DecodeBinary(enc)
		if !ok || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %x gave %x, %v", data, got, ok)
		}
	})
}
