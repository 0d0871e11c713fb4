// Package version holds the build's version, stamped by the Makefile with
// -ldflags "-X tether/internal/version.Version=$(VERSION)" (git describe),
// for both binaries: `tetherd -version`, `tether-hub version`, the
// tether_build_info metric and device:status.
package version

import (
	"fmt"
	"runtime"
)

// Version is "dev" in a build that was not stamped (go run, go test).
var Version = "dev"

// String is the one line the binaries print: name, version, Go and target.
func String(name string) string {
	return fmt.Sprintf("%s %s (%s, %s/%s)", name, Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
