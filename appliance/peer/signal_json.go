package peer

import (
	"encoding/json"
	"fmt"

	"tether/signaling"
)

// MarshalJSON encodes s as the `signal` payload of docs/protocol.md without
// the to/from field, which the room layer adds: {"description": {"type",
// "sdp"}} or {"candidate": {"candidate", "sdpMid", "sdpMLineIndex"}} or
// {"candidate": null} (end of candidates). The codec is the room
// protocol's (signaling.Signal); this layer has none of its own.
func (s Signal) MarshalJSON() ([]byte, error) { return json.Marshal(s.Wire("")) }

// UnmarshalJSON decodes and validates the contract's payload with the room
// protocol's codec; `"candidate": null` becomes EndOfCandidates.
func (s *Signal) UnmarshalJSON(b []byte) error {
	var w signaling.Signal
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignal, err)
	}
	*s = FromWire(w)
	return nil
}
