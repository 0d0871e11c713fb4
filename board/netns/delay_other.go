//go:build !linux

package netns

import (
	"context"
	"fmt"
	"time"
)

// Delayer needs Linux's nfnetlink_queue.
type Delayer struct{}

// Delay needs Linux's nfnetlink_queue.
func Delay(ctx context.Context, ns string, d time.Duration, o DelayOptions, rules ...Rule) (*Delayer, error) {
	return nil, fmt.Errorf("%w: needs Linux", ErrDelay)
}

func (*Delayer) Stats() DelayStats { return DelayStats{} }
func (*Delayer) Stop() error       { return nil }
