package display

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/internal/testenv"
	"tether/media"
	"tether/media/drm"
)

// lateScreen is a memScreen whose flips time out while late is set: the
// flip is not done, so the front buffer stays what it was.
type lateScreen struct {
	*memScreen
	late atomic.Bool
}

func (s *lateScreen) Present() error {
	if s.late.Load() {
		return fmt.Errorf("%w: page flip", drm.ErrTimeout)
	}
	return s.memScreen.Present()
}

// A status whose flip timed out is presented again on the next tick (the
// rig's vkms under load: the screen kept the last customer's picture).
func TestStatusPresentedAgainAfterALateFlip(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Unix(0, 0))
	scr := &lateScreen{memScreen: newMemScreen(64, 48)}
	scr.late.Store(true) // every flip times out, from the first status on
	d, err := New(Config{
		OpenScreen: func() (Screen, error) { return scr, nil },
		Clock:      clk,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 10*time.Second, "screen open", func() bool { return d.Status().State == media.SourceOK })
	status := func() bool {
		b, _ := scr.Capture(0)
		r, g, bl := pixel(b, 2, 2)
		return r == 0x10 && g == 0x24 && bl == 0x3a
	}
	clk.Advance(time.Second)
	if _, err := d.Capture(context.Background()); err != nil { // Run has handled the tick once it answers
		t.Fatal(err)
	}
	if status() {
		t.Fatal("a timed-out flip showed the status")
	}
	// The vblanks come back: the next tick shows the status.
	scr.late.Store(false)
	testenv.Eventually(t, 10*time.Second, "status shown after a tick", func() bool {
		clk.Advance(time.Second)
		return status()
	})
}
