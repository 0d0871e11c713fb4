package console

import "errors"

// Sentinel errors returned by New, wrapped with the offending field.
var (
	// ErrNoHealth: Config.Health is required.
	ErrNoHealth = errors.New("console: no health tracker")
	// ErrNoOutput: Config.Out is required.
	ErrNoOutput = errors.New("console: no output writer")
	// ErrBadInterval: Config.Interval is negative.
	ErrBadInterval = errors.New("console: bad interval")
)
