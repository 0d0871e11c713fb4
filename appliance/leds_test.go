package appliance

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/appliance/health"
	"tether/gpio"
	"tether/signaling/socketio"
)

func TestLEDScheme(t *testing.T) {
	s := DefaultLEDScheme()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	seen := map[[2]string]health.State{}
	for _, st := range health.States() {
		look := s[st]
		key := [2]string{look.Link.Name, look.Status.Name}
		if prev, dup := seen[key]; dup {
			t.Errorf("%v and %v look the same: %v", prev, st, key)
		}
		seen[key] = st
	}
	// The device codes differ by their flash count: 1 camera, 2 encoder, 3 mic.
	if s[health.StateNoCamera].Status.Equal(s[health.StateNoMicrophone].Status) ||
		s[health.StateNoCamera].Status.Equal(s[health.StateNoEncoder].Status) {
		t.Fatal("device codes are not distinct")
	}
	if !s[health.StateBooting].Equal(gpio.PowerOn) {
		t.Error("booting does not keep the power-on look")
	}
	delete(s, health.StateFault)
	if err := s.Validate(); err == nil {
		t.Fatal("incomplete scheme validated")
	}
}

// lookRecorder is a lookSetter that keeps every look it is given.
type lookRecorder chan gpio.Look

func (r lookRecorder) SetLook(l gpio.Look) { r <- l }

// The LEDs follow the tracker: a session expiry shows login-needed's look.
func TestShowLEDsFollowsTracker(t *testing.T) {
	tr, err := health.New(health.Config{Clock: clockwork.NewFakeClockAt(time.Unix(0, 0)), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sub := tr.Subscribe()
	defer sub.Close()
	rec := make(lookRecorder, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); showLEDs(ctx, sub.C(), DefaultLEDScheme(), rec) }()
	defer func() { cancel(); <-done }()

	scheme := DefaultLEDScheme()
	tr.SetBooting(false)
	tr.ReportSocket(health.SocketStatus{State: socketio.SessionExpired})
	// Snapshots may coalesce; wait until login-needed's look is asked for.
	bound := time.After(10 * time.Second) // a bound, not a behaviour wait
	for {
		select {
		case l := <-rec:
			if l.Equal(scheme[health.StateLoginNeeded]) {
				return
			}
		case <-bound:
			t.Fatal("login-needed's look never asked for")
		}
	}
}
