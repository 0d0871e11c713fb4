package siotest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Binary is a byte slice that crosses the JSON boundary to and from the node
// scripts as {"$binary": "<base64>"}; the scripts turn it into a Buffer, so
// socket.io sends it as a binary attachment (BINARY_EVENT / BINARY_ACK).
type Binary []byte

// MarshalJSON encodes b as {"$binary": base64}.
func (b Binary) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$binary": base64.StdEncoding.EncodeToString(b)})
}

// UnmarshalJSON decodes {"$binary": base64}.
func (b *Binary) UnmarshalJSON(data []byte) error {
	var v struct {
		B *string `json:"$binary"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("siotest: binary: %w", err)
	}
	if v.B == nil {
		return fmt.Errorf("siotest: binary: no $binary in %.40q", data)
	}
	d, err := base64.StdEncoding.DecodeString(*v.B)
	if err != nil {
		return fmt.Errorf("siotest: binary: %w", err)
	}
	*b = d
	return nil
}

// DecodeBinary returns the bytes of a {"$binary": base64} value and whether raw is one.
func DecodeBinary(raw json.RawMessage) ([]byte, bool) {
	var b Binary
	if err := b.UnmarshalJSON(raw); err != nil {
		return nil, false
	}
	return b, true
}

// EncodeArgs returns args with every []byte (also nested in []any and
// map[string]any) replaced by Binary, ready to be sent to a node script.
func EncodeArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = encodeValue(a)
	}
	return out
}

func encodeValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return Binary(x)
	case []any:
		return EncodeArgs(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = encodeValue(e)
		}
		return m
	default:
		return v
	}
}
