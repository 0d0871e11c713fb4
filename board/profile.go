package board

import "strings"

// Profile names accepted by Lookup and the -board flag.
const (
	NameRPi3B     = "rpi3b"
	NameRPi4B     = "rpi4b"
	NameRPi5      = "rpi5"
	NameRPiZero2W = "rpizero2w"
	NameCM4       = "cm4"
	NameGeneric   = "generic"
	NameSim       = "sim"
)

// SimChip is the GPIO chip name of the sim board: no kernel chip exists, the
// runtime renders its LEDs in the terminal and on the setup page instead.
const SimChip = "sim"

// Pin is one GPIO line on the board's chip.
type Pin struct {
	// Offset is the line offset on the chip; -1 means not fitted.
	Offset int
	// ActiveLow means the line is driven (or reads) low when active: an LED
	// wired from 3V3 through a resistor to the pin, or a button to ground.
	ActiveLow bool
	// PullUp asks for the SoC's internal pull-up (buttons to ground).
	PullUp bool
}

// NoPin marks a line that is not fitted on the board.
var NoPin = Pin{Offset: -1}

// Fitted reports whether the pin is wired.
func (p Pin) Fitted() bool { return p.Offset >= 0 }

// GPIO describes the front panel: two LEDs and an optional button.
type GPIO struct {
	// Chip is the gpiochip to open: a device name ("gpiochip0"), a chip label
	// ("pinctrl-rp1", resolved by scanning the chips, because the Pi 5's RP1
	// chip number moved between kernel releases), SimChip, or "" for none.
	Chip string
	// LinkLED is the green "link" LED, StatusLED the red/amber "status" LED.
	LinkLED, StatusLED Pin
	// Button is the optional front-panel button (end call / reset password).
	Button Pin
}

// Camera is a hint for the capture device; the media layer still probes.
type Camera struct {
	// Device is the V4L2 capture node tried first ("/dev/video0").
	Device string
}

// Display says whether a screen for the customer's video is expected
// (issue 15 §4): with none, the customer's video is not decoded at all.
type Display struct {
	// Device is "auto" (the first DRM card with a connected output, if
	// any: a counter without a screen is normal, no fault), a card path
	// ("/dev/dri/card1": a screen is expected, and its absence is the
	// no-display state), or "" when none is wanted (nothing is decoded).
	Device string
}

// Encoder names the H.264 encoder to use.
type Encoder struct {
	// Device is the V4L2 mem2mem encoder node ("/dev/video11" for
	// bcm2835-codec); "" means there is none and Software is true.
	Device string
	// Software means encode on the CPU (Pi 5 has no H.264 encoder block).
	Software bool
}

// Video are the default capture/encode settings for the board.
type Video struct {
	Width, Height int
	FPS           int
	BitrateKbps   int
}

// Audio is a hint for the capture card.
type Audio struct {
	// CardHint is matched case-insensitively against the card names in
	// /proc/asound/cards; "" means the default card.
	CardHint string
}

// Profile is everything the runtime needs to know about one board.
type Profile struct {
	// Name is the short name used by -board ("rpi4b").
	Name string
	// Description is the human name shown on the console and setup page.
	Description string
	GPIO        GPIO
	Camera      Camera
	Encoder     Encoder
	Video       Video
	Audio       Audio
	Display     Display
	// Console is the tty of the serial console (status line and
	// commands, docs/leds.md): the Pi's primary UART, header pins 8 (TX)
	// and 10 (RX). "" means none (sim, generic: name one with -console).
	Console string
	// TestSources means the media layer uses the test pattern and tone
	// instead of real devices (the sim board).
	TestSources bool
}

// The Pi header wiring shared by every Raspberry Pi profile (BCM numbering,
// identical offsets on bcm2835, bcm2711 and RP1): link LED on GPIO17
// (pin 11), status LED on GPIO27 (pin 13), button on GPIO22 (pin 15) to
// ground with the internal pull-up. See docs/leds.md.
var piPanel = struct{ link, status, button Pin }{
	link:   Pin{Offset: 17},
	status: Pin{Offset: 27},
	button: Pin{Offset: 22, ActiveLow: true, PullUp: true},
}

func piGPIO(chip string) GPIO {
	return GPIO{Chip: chip, LinkLED: piPanel.link, StatusLED: piPanel.status, Button: piPanel.button}
}

// piConsole is the Pi's primary UART as Raspberry Pi OS links it
// (/dev/serial0 → ttyS0 or ttyAMA0, whichever the header pins carry on
// that model); the tetherd console runs at 115200 8N1 on it.
const piConsole = "/dev/serial0"

// bcm2835-codec exposes its H.264 encoder as a V4L2 mem2mem node at
// /dev/video11 on Pi 3, Zero 2 W, Pi 4 and CM4.
const bcm2835CodecEncoder = "/dev/video11"

var profiles = []Profile{
	{
		Name:        NameRPi3B,
		Description: "Raspberry Pi 3 Model B",
		GPIO:        piGPIO("pinctrl-bcm2835"),
		Camera:      Camera{Device: "/dev/video0"},
		Encoder:     Encoder{Device: bcm2835CodecEncoder},
		Video:       Video{Width: 1280, Height: 720, FPS: 25, BitrateKbps: 1500},
		Audio:       Audio{CardHint: "usb"},
		Display:     Display{Device: "auto"},
		Console:     piConsole,
	},
	{
		Name:        NameRPi4B,
		Description: "Raspberry Pi 4 Model B",
		GPIO:        piGPIO("pinctrl-bcm2711"),
		Camera:      Camera{Device: "/dev/video0"},
		Encoder:     Encoder{Device: bcm2835CodecEncoder},
		Video:       Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000},
		Audio:       Audio{CardHint: "usb"},
		Display:     Display{Device: "auto"},
		Console:     piConsole,
	},
	{
		// Pi 5 has no H.264 encoder block: software encoding on the A76 cores.
		Name:        NameRPi5,
		Description: "Raspberry Pi 5",
		GPIO:        piGPIO("pinctrl-rp1"),
		Camera:      Camera{Device: "/dev/video0"},
		Encoder:     Encoder{Software: true},
		Video:       Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000},
		Audio:       Audio{CardHint: "usb"},
		Display:     Display{Device: "auto"},
		Console:     piConsole,
	},
	{
		// Zero 2 W: 512 MB RAM and a thermally limited quad A53, so lower defaults.
		Name:        NameRPiZero2W,
		Description: "Raspberry Pi Zero 2 W",
		GPIO:        piGPIO("pinctrl-bcm2835"),
		Camera:      Camera{Device: "/dev/video0"},
		Encoder:     Encoder{Device: bcm2835CodecEncoder},
		Video:       Video{Width: 640, Height: 480, FPS: 25, BitrateKbps: 800},
		Audio:       Audio{CardHint: "usb"},
		Console:     piConsole,
	},
	{
		Name:        NameCM4,
		Description: "Raspberry Pi Compute Module 4",
		GPIO:        piGPIO("pinctrl-bcm2711"),
		Camera:      Camera{Device: "/dev/video0"},
		Encoder:     Encoder{Device: bcm2835CodecEncoder},
		Video:       Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000},
		Audio:       Audio{CardHint: "usb"},
		Display:     Display{Device: "auto"},
		Console:     piConsole,
	},
	{
		// Generic Linux: no known front panel, a UVC camera, software encoding.
		Name:        NameGeneric,
		Description: "Generic Linux",
		GPIO:        GPIO{LinkLED: NoPin, StatusLED: NoPin, Button: NoPin},
		Camera:      Camera{Device: "/dev/video0"},
		Encoder:     Encoder{Software: true},
		Video:       Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000},
	},
	{
		// sim: test sources, LEDs rendered in the terminal and on the setup page.
		Name:        NameSim,
		Description: "Simulated board",
		GPIO: GPIO{
			Chip:      SimChip,
			LinkLED:   Pin{Offset: 0},
			StatusLED: Pin{Offset: 1},
			Button:    Pin{Offset: 2, ActiveLow: true, PullUp: true},
		},
		Encoder:     Encoder{Software: true},
		Video:       Video{Width: 640, Height: 480, FPS: 30, BitrateKbps: 1000},
		TestSources: true,
	},
}

// Names returns the valid profile names, sorted.
func Names() []string {
	names := make([]string, 0, len(profiles))
	for _, p := range profiles {
		names = append(names, p.Name)
	}
	// profiles is small; insertion sort keeps this dependency-free and stable.
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

// Profiles returns a copy of every profile.
func Profiles() []Profile {
	return append([]Profile(nil), profiles...)
}

// Lookup returns the profile for a -board flag value (case-insensitive).
func Lookup(name string) (Profile, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, p := range profiles {
		if p.Name == n {
			return p, nil
		}
	}
	return Profile{}, &unknownError{name: name}
}

type unknownError struct{ name string }

func (e *unknownError) Error() string {
	return "board: unknown board " + quote(e.name) + " (valid: " + strings.Join(Names(), ", ") + ")"
}

func (e *unknownError) Unwrap() error { return ErrUnknownBoard }

func quote(s string) string { return `"` + s + `"` }
