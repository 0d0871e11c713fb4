package health

import "errors"

// ErrBadThreshold is returned by New for a negative or out-of-range threshold.
var ErrBadThreshold = errors.New("bad threshold")
