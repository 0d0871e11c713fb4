// Package testhub starts an in-process hub for tests: the one start-up the
// hub's own tests and the appliance's share. It lives beside testenv, not
// in it, because the hub's auth package tests with testenv and the hub
// imports auth.
package testhub

import (
	"context"
	"sync"
	"testing"
	"time"

	"tether/internal/testenv"
	"tether/signaling/hub"
)

// Hub is a running hub; Stop (also run at cleanup) ends it.
type Hub struct {
	*hub.Hub
	tb     testing.TB
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Start builds a hub from cfg and runs it until the test ends. Zero KDF
// and Logger are testenv's, an empty AdminSocket is "-" (none).
func Start(tb testing.TB, cfg hub.Config) *Hub {
	tb.Helper()
	if cfg.KDF == (hub.Config{}).KDF {
		cfg.KDF = testenv.KDF
	}
	if cfg.Logger == nil {
		cfg.Logger = testenv.Logger()
	}
	if cfg.AdminSocket == "" {
		cfg.AdminSocket = "-"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	h, err := hub.New(cfg)
	if err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	th := &Hub{Hub: h, tb: tb, cancel: cancel, done: make(chan error, 1)}
	go func() { th.done <- h.Run(ctx) }()
	tb.Cleanup(th.Stop)
	return th
}

// Stop ends the hub and waits (up to 10 s) for Run, reporting its error.
func (h *Hub) Stop() {
	h.once.Do(func() {
		h.cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.tb.Errorf("hub Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.tb.Error("hub did not stop")
		}
	})
}
