package appliance

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// accessRW reports whether this process may open path for reading and
// writing, by its effective ids and groups (faccessat2 with AT_EACCESS),
// without opening it: opening a PCM or a GPIO chip here would race the
// pipeline and the panel for it.
func accessRW(path string) error {
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.R_OK|unix.W_OK, unix.AT_EACCESS); err != nil {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
