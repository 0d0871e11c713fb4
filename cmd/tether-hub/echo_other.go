//go:build !linux

package main

import (
	"errors"
	"os"
)

// noEcho is not supported here: the password is read as typed.
func noEcho(*os.File) (func(), error) { return nil, errors.New("no terminal control on this OS") }
