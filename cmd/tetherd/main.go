// Command tetherd is the Tether appliance daemon: the counter's persistent
// Socket.IO + WebRTC link (appliance.Run), plus `tetherd login` and
// `tetherd status` for factories and field techs (the demo is
// cmd/tether-demo).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tether/appliance"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := appliance.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, appliance.ErrStuck):
		fmt.Fprintln(os.Stderr, "tetherd:", err)
		os.Exit(3) // the init system restarts us
	case errors.Is(err, appliance.ErrUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "tetherd:", err)
		os.Exit(1)
	}
}
