package customerpage_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the hub, the appliance and Chromium's driver start must
// be gone when the tests end (as under the hub's own TestMain, where these
// tests ran before).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLog is the hub's and the appliance's log in these tests: discarded
// (the tests log what they see through t.Log).
var testLog = slog.New(slog.DiscardHandler)
