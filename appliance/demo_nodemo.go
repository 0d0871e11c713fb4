//go:build nodemo

package appliance

import (
	"context"
	"errors"
	"flag"
	"io"
)

// runDemo in a release build (tag nodemo, `make dist`): the in-process
// hub, TURN server and customer page that -demo needs are left out, which
// keeps the arm64 binary under 18 MB (issue 14 §1).
func runDemo(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	return errors.New("-demo is not in release builds (built with the nodemo tag); run `make demo` from the source tree")
}
