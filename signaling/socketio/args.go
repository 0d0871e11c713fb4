package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// placeholder is how a binary attachment is referenced from the JSON part
// of a BINARY_EVENT or BINARY_ACK (Socket.IO v5 "Packet encoding").
type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         int  `json:"num"`
}

// EncodeArgs builds the JSON array of an EVENT or ACK payload. With a
// non-empty name the array starts with it (an event). A []byte argument —
// at the top level or nested in map[string]any or []any — becomes a binary
// attachment; other values are encoded with encoding/json.
func EncodeArgs(name string, args []any) (json.RawMessage, [][]byte, error) {
	var bufs [][]byte
	out := make([]byte, 0, 64)
	out = append(out, '[')
	if name != "" {
		b, err := json.Marshal(name)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, b...)
	}
	for i, a := range args {
		if i > 0 || name != "" {
			out = append(out, ',')
		}
		v, _ := extractBinary(a, &bufs)
		b, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("socketio: encode argument %d: %w", i, err)
		}
		out = append(out, b...)
	}
	out = append(out, ']')
	return out, bufs, nil
}

// extractBinary replaces byte slices in v with placeholders, appending the
// slices to bufs. Containers are copied only when they hold binary.
func extractBinary(v any, bufs *[][]byte) (any, bool) {
	switch t := v.(type) {
	case []byte:
		*bufs = append(*bufs, t)
		return placeholder{Placeholder: true, Num: len(*bufs) - 1}, true
	case map[string]any:
		var m map[string]any
		for k, e := range t {
			if r, changed := extractBinary(e, bufs); changed {
				if m == nil {
					m = make(map[string]any, len(t))
					for k2, e2 := range t {
						m[k2] = e2
					}
				}
				m[k] = r
			}
		}
		if m != nil {
			return m, true
		}
	case []any:
		var s []any
		for i, e := range t {
			if r, changed := extractBinary(e, bufs); changed {
				if s == nil {
					s = append([]any(nil), t...)
				}
				s[i] = r
			}
		}
		if s != nil {
			return s, true
		}
	}
	return v, false
}

// Args are the arguments of a received event or acknowledgement.
type Args struct {
	raw  []json.RawMessage
	bufs [][]byte
}

// ParseArgs splits an EVENT or ACK payload array; for events the first
// element is the name and is returned separately.
func ParseArgs(data json.RawMessage, attachments [][]byte, event bool) (string, Args, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return "", Args{}, fmt.Errorf("socketio: payload: %v: %w", err, ErrMalformed)
	}
	var name string
	if event {
		if len(raw) == 0 {
			return "", Args{}, fmt.Errorf("socketio: event without a name: %w", ErrMalformed)
		}
		if err := json.Unmarshal(raw[0], &name); err != nil {
			return "", Args{}, fmt.Errorf("socketio: event name is not a string: %w", ErrMalformed)
		}
		raw = raw[1:]
	}
	return name, Args{raw: raw, bufs: attachments}, nil
}

// Len is the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Raw returns argument i's JSON text (a placeholder object for binary).
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	return a.raw[i]
}

// Decode stores argument i in v. A binary argument decodes into *[]byte;
// binary nested deeper is available through Value.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return fmt.Errorf("socketio: argument %d of %d: %w", i, len(a.raw), ErrMalformed)
	}
	if bp, ok := v.(*[]byte); ok {
		if b, ok := a.binary(a.raw[i]); ok {
			*bp = b
			return nil
		}
	}
	if err := json.Unmarshal(a.raw[i], v); err != nil {
		return fmt.Errorf("socketio: argument %d: %w", i, err)
	}
	return nil
}

// Value decodes argument i generically (maps, slices, float64, string, bool,
// nil) with every binary placeholder replaced by its []byte.
func (a Args) Value(i int) (any, error) {
	var v any
	if err := a.Decode(i, &v); err != nil {
		return nil, err
	}
	return a.resolve(v), nil
}

// Values decodes every argument as Value does.
func (a Args) Values() ([]any, error) {
	out := make([]any, len(a.raw))
	for i := range a.raw {
		v, err := a.Value(i)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (a Args) binary(raw json.RawMessage) ([]byte, bool) {
	if len(a.bufs) == 0 || !bytes.Contains(raw, []byte(`"_placeholder"`)) {
		return nil, false
	}
	var p placeholder
	if json.Unmarshal(raw, &p) != nil || !p.Placeholder || p.Num < 0 || p.Num >= len(a.bufs) {
		return nil, false
	}
	return a.bufs[p.Num], true
}

func (a Args) resolve(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if ph, ok := t["_placeholder"].(bool); ok && ph {
			if n, ok := t["num"].(float64); ok && int(n) >= 0 && int(n) < len(a.bufs) && float64(int(n)) == n {
				return a.bufs[int(n)]
			}
		}
		for k, e := range t {
			t[k] = a.resolve(e)
		}
	case []any:
		for i, e := range t {
			t[i] = a.resolve(e)
		}
	}
	return v
}
