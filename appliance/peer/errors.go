package peer

import "errors"

// Sentinel errors; callers match them with errors.Is.
var (
	// ErrNoSignaller is returned by New when Config.Signaller is nil.
	ErrNoSignaller = errors.New("peer: no signaller")
	// ErrNoTracks is returned by New when Config.Tracks is empty.
	ErrNoTracks = errors.New("peer: no local tracks")
	// ErrBadConfig is returned by New for an invalid duration or count.
	ErrBadConfig = errors.New("peer: invalid config")
	// ErrAlreadyRunning is returned by a second call to Run.
	ErrAlreadyRunning = errors.New("peer: already running")
	// ErrBadBeat is returned when a heartbeat message cannot be decoded.
	ErrBadBeat = errors.New("peer: malformed heartbeat")
	// ErrBadSignal is returned by Signal.UnmarshalJSON for a payload that
	// is not exactly one description or one candidate.
	ErrBadSignal = errors.New("peer: malformed signal")
)
