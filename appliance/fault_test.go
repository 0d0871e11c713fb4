package appliance_test

import (
	"testing"

	"tether/internal/testenv"
)

// TestTetherdStartupFaults runs the real binary against each bad input of
// issue 14 (a corrupt or foreign config file, unknown keys, a camera the
// user may not open, a read-only data partition): one line naming the
// cause in the log, sd_notify READY and STATUS=fault, the console's line
// with the LEDs' fault look, no exit until the cause is repaired, then
// the clean restart (status 3). The device and read-only cases need root.
func TestTetherdStartupFaults(t *testing.T) {
	testenv.CheckStartupFaults(t, buildTetherd(t, "dev"))
}
