package appliance

import (
	"context"
	"fmt"

	"tether/appliance/health"
	"tether/gpio"
)

// LEDScheme maps every overall health state to what the front panel's two
// LEDs show. It lives here, not in gpio: the LED package plays patterns and
// knows nothing of the appliance's states (issue 13).
type LEDScheme map[health.State]gpio.Look

// DefaultLEDScheme is the table in docs/leds.md. Every state has a distinct
// pair, so the two LEDs alone tell a field tech the state.
func DefaultLEDScheme() LEDScheme {
	return LEDScheme{
		health.StateBooting:        gpio.PowerOn, // both solid, as from power-on
		health.StateNoNetwork:      {Link: gpio.Off, Status: gpio.SlowBlink},
		health.StateHubUnreachable: {Link: gpio.FastBlink, Status: gpio.Off},
		health.StateLoginNeeded:    {Link: gpio.Off, Status: gpio.DoubleBlink},
		health.StateReadyWaiting:   {Link: gpio.Solid, Status: gpio.Off},
		health.StateInCall:         {Link: gpio.Heartbeat, Status: gpio.Off},
		health.StateDegraded:       {Link: gpio.Solid, Status: gpio.SlowBlink},
		health.StateRestarting:     {Link: gpio.FastBlink, Status: gpio.FastBlinkB},
		health.StateFault:          {Link: gpio.Off, Status: gpio.Solid},
		// A media device does not deliver: link blinks slowly (the
		// appliance is not in service), status counts which device.
		health.StateNoCamera:     {Link: gpio.SlowBlink, Status: gpio.Flashes(1)},
		health.StateNoEncoder:    {Link: gpio.SlowBlink, Status: gpio.Flashes(2)},
		health.StateNoMicrophone: {Link: gpio.SlowBlink, Status: gpio.Flashes(3)},
		health.StateNoSpeaker:    {Link: gpio.SlowBlink, Status: gpio.Flashes(4)},
		health.StateNoDisplay:    {Link: gpio.SlowBlink, Status: gpio.Flashes(5)},
	}
}

// Validate checks that the scheme covers every state.
func (s LEDScheme) Validate() error {
	for _, st := range health.States() {
		if _, ok := s[st]; !ok {
			return fmt.Errorf("appliance: LED scheme: no look for %v", st)
		}
	}
	return nil
}

// lookSetter is what showLEDs needs of the LED player (gpio.Player).
type lookSetter interface {
	SetLook(gpio.Look)
}

// showLEDs shows each health snapshot's overall state on the LEDs until
// ctx ends or the subscription closes.
func showLEDs(ctx context.Context, snaps <-chan health.Snapshot, scheme LEDScheme, leds lookSetter) {
	for {
		select {
		case <-ctx.Done():
			return
		case snap, ok := <-snaps:
			if !ok {
				return
			}
			leds.SetLook(scheme[snap.Overall])
		}
	}
}
