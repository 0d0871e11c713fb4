package gpio

import (
	"fmt"
	"slices"
	"time"
)

// Step is one segment of a pattern: the LED on or off for Dur. A Dur of 0
// holds the step for ever.
type Step struct {
	On  bool
	Dur time.Duration
}

// Pattern is a sequence of steps played from the moment it is selected and
// repeated, unless Once is set, in which case the last step is held.
type Pattern struct {
	Name  string
	Steps []Step
	Once  bool
}

// At returns whether the LED is on at elapsed time into the pattern, and how
// long until the next step boundary (0: the value never changes again).
func (p Pattern) At(elapsed time.Duration) (on bool, next time.Duration) {
	if len(p.Steps) == 0 {
		return false, 0
	}
	if elapsed < 0 {
		elapsed = 0
	}
	var cycle time.Duration
	for _, s := range p.Steps {
		if s.Dur <= 0 {
			// A hold step ends the cycle: the pattern never repeats.
			cycle = -1
			break
		}
		cycle += s.Dur
	}
	if cycle > 0 && !p.Once {
		elapsed %= cycle
	}
	var t time.Duration
	for i, s := range p.Steps {
		if s.Dur <= 0 {
			return s.On, 0
		}
		if elapsed < t+s.Dur {
			return s.On, t + s.Dur - elapsed
		}
		t += s.Dur
		if i == len(p.Steps)-1 {
			// Only reachable with Once: hold the last step.
			return s.On, 0
		}
	}
	return false, 0
}

// String returns the pattern's name.
func (p Pattern) String() string { return p.Name }

// The patterns of docs/leds.md. Blink rates are the issue's: slow 1 Hz,
// fast 4 Hz; the heartbeat is a double pulse every 1.2 s.
var (
	Off        = Pattern{Name: "off", Steps: []Step{{false, 0}}}
	Solid      = Pattern{Name: "solid", Steps: []Step{{true, 0}}}
	SlowBlink  = Pattern{Name: "slow blink (1 Hz)", Steps: []Step{{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}}}
	FastBlink  = Pattern{Name: "fast blink (4 Hz)", Steps: []Step{{true, 125 * time.Millisecond}, {false, 125 * time.Millisecond}}}
	FastBlinkB = Pattern{Name: "fast blink (4 Hz, opposite phase)", Steps: []Step{{false, 125 * time.Millisecond}, {true, 125 * time.Millisecond}}}
	// DoubleBlink: two 200 ms blinks, then 1.4 s dark (2 s period).
	DoubleBlink = Pattern{Name: "double blink", Steps: []Step{
		{true, 200 * time.Millisecond}, {false, 200 * time.Millisecond},
		{true, 200 * time.Millisecond}, {false, 1400 * time.Millisecond},
	}}
	// Heartbeat: two short 100 ms pulses 150 ms apart, every 1.2 s.
	Heartbeat = Pattern{Name: "heartbeat", Steps: []Step{
		{true, 100 * time.Millisecond}, {false, 150 * time.Millisecond},
		{true, 100 * time.Millisecond}, {false, 850 * time.Millisecond},
	}}
)

// Flashes is a blink code: n flashes of 200 ms, 300 ms apart, then dark
// until 3 s have passed, so a technician can count them. The device codes
// use it on the status LED: 1 camera, 2 encoder, 3 microphone, 4 speaker.
func Flashes(n int) Pattern {
	steps := make([]Step, 0, 2*n)
	var used time.Duration
	for i := 0; i < n; i++ {
		steps = append(steps, Step{true, 200 * time.Millisecond}, Step{false, 300 * time.Millisecond})
		used += 500 * time.Millisecond
	}
	steps[len(steps)-1].Dur += 3*time.Second - used
	return Pattern{Name: fmt.Sprintf("%d flash(es) every 3 s", n), Steps: steps}
}

// Equal reports whether p and q light the LED the same way.
func (p Pattern) Equal(q Pattern) bool {
	return p.Name == q.Name && p.Once == q.Once && slices.Equal(p.Steps, q.Steps)
}

// Look is what both LEDs show at once. The appliance chooses a Look for
// each of its states (appliance/leds.go, docs/leds.md); the player only
// plays it.
type Look struct {
	Link, Status Pattern
}

// Equal reports whether l and m play the same patterns.
func (l Look) Equal(m Look) bool { return l.Link.Equal(m.Link) && l.Status.Equal(m.Status) }

// PowerOn is the look from the moment the lines are requested until the
// first SetLook: both LEDs lit, which doubles as a lamp test.
var PowerOn = Look{Link: Solid, Status: Solid}

// SelfTestDuration is how long the LED test of the setup page runs.
const SelfTestDuration = 4 * time.Second

// SelfTest is the LED test: link alone (1 s), status alone (1 s), both
// (1 s), both dark (1 s); then the player returns to the current state.
var SelfTest = Look{
	Link: Pattern{Name: "self-test link", Once: true, Steps: []Step{
		{true, time.Second}, {false, time.Second}, {true, time.Second}, {false, 0},
	}},
	Status: Pattern{Name: "self-test status", Once: true, Steps: []Step{
		{false, time.Second}, {true, 2 * time.Second}, {false, 0},
	}},
}
