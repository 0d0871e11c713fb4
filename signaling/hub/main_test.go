package hub

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the hub, its TURN server and its Socket.IO server start
// must be gone when Run returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
