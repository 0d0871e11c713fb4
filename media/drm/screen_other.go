//go:build !linux

package drm

import "time"

// Screen is unavailable on this system.
type Screen struct{}

// Find returns ErrUnsupported.
func Find() (string, error) { return "", ErrUnsupported }

// Open returns ErrUnsupported.
func Open(string) (*Screen, error) { return nil, ErrUnsupported }

func (*Screen) Info() Info                            { return Info{} }
func (*Screen) Back() Buffer                          { return Buffer{} }
func (*Screen) Present() error                        { return ErrUnsupported }
func (*Screen) Capture(time.Duration) (Buffer, error) { return Buffer{}, ErrUnsupported }
func (*Screen) Close() error                          { return nil }
