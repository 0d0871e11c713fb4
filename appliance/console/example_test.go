package console_test

import (
	"log"
	"os"

	"tether/appliance/console"
	"tether/appliance/health"
	"tether/gpio"
	"tether/store"
)

// The composition root opens the tty and hands it in for both directions.
func ExampleNew() {
	tr, _ := health.New(health.Config{})
	st := store.NewMem(store.Options{})
	term := gpio.NewTerminal(nil, false)
	tty := os.Stdout // os.OpenFile("/dev/console", os.O_RDWR, 0) on the device

	con, err := console.New(console.Config{
		Health:  tr,
		Out:     tty,
		In:      nil, // tty
		Events:  st,
		Restart: func(reason string) { /* ask the supervisor */ },
		LEDs:    term.String,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = con.Run           // con.Run(ctx) under the supervisor
	_ = con.PasswordReset // the button's 10 s hold
}
