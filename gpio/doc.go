// Package gpio drives the appliance's front panel: a pattern player that
// plays the Look it is given on a green "link" and a red "status" LED (the
// appliance maps its health states to looks: appliance/leds.go),
// and an optional button (short press ends the call, a long hold resets the
// setup password).
// Lines come from go-gpiocdev on Linux (CdevChip), from FakeChip in tests,
// and from FakeChip plus Terminal on the sim board; docs/leds.md is the
// field tech's table of the patterns.
package gpio
