package display

import "errors"

// Sentinel errors.
var (
	// ErrConfig: Config failed validation.
	ErrConfig = errors.New("display: invalid config")
	// ErrNoScreen: Capture while no screen is open.
	ErrNoScreen = errors.New("display: no screen open")
	// ErrNotRunning: Capture while Run is not active.
	ErrNotRunning = errors.New("display: not running")
)
