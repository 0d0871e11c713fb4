//go:build !unix

package siotest

import "os"

// Stop and Cont are unsupported off unix; Server.Stop skips the test.
var (
	sigStop os.Signal
	sigCont os.Signal
)
