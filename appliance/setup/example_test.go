package setup_test

import (
	"context"
	"log"

	"tether/appliance/health"
	"tether/appliance/setup"
	"tether/gpio"
	"tether/store"
)

// The composition root wires the page to the tracker, the store, the hub
// login and the front panel; the button's 10 s hold calls ResetPassword.
func ExampleNew() {
	tr, _ := health.New(health.Config{})
	st := store.NewMem(store.Options{})
	term := gpio.NewTerminal(nil, false) // the sim board's LEDs
	var player *gpio.Player              // from gpio.NewPanel

	srv, err := setup.New(setup.Config{
		Health: tr,
		Store:  st,
		// Performs POST {hub}/api/login (protocol.md) and stores the session.
		Login: func(ctx context.Context, hubURL, user, pass string) (store.Session, error) {
			return store.Session{}, setup.ErrInvalidCredentials
		},
		OnLogin: func() { /* wake the socket manager */ },
		LEDs:    term.LEDs,
		LEDTest: func() {
			if player != nil {
				player.SelfTest()
			}
		},
		Restart: func(reason string) { /* ask the supervisor */ },
		Addr:    ":8080",
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = srv.Run // run under the supervisor: srv.Run(ctx)
	_ = srv.ResetPassword
}
