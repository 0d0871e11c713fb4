package appliance

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/media"
	"tether/media/aec"
)

func TestSpeakerFromConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	t.Run("none", func(t *testing.T) {
		cfg := Config{Speaker: "none", Volume: 80}
		if e := newEcho(cfg, log); e != nil {
			t.Fatal("an echo canceller without a speaker")
		}
		p, err := newPlayer(cfg, nil, nil, nil, log, clockwork.NewRealClock())
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Status(); st.Speaker != media.SourceOff || st.Volume != 80 {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("missing device, muted", func(t *testing.T) {
		cfg := Config{Speaker: "/dev/snd/pcmC9D9p", Volume: 0}
		echo := newEcho(cfg, log)
		if (echo != nil) != aec.Available {
			t.Fatalf("echo canceller %v, available %v", echo != nil, aec.Available)
		}
		if echo != nil {
			defer echo.Close()
		}
		p, err := newPlayer(cfg, nil, echo, nil, log, clockwork.NewRealClock())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		defer func() { cancel(); <-done }()
		want := media.SourceMissing
		if !aec.Available { // cgo off: no decoder, no speaker
			want = media.SourceOff
		}
		for deadline := time.Now().Add(10 * time.Second); p.Status().Speaker != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("speaker %v, want %v", p.Status().Speaker, want)
			}
		}
		if st := p.Status(); st.Volume != 0 || st.Speaker.Working() {
			t.Fatalf("status %+v", st)
		}
	})
}
