//go:build !cgo

package aec

// Available is false: built with cgo off, no libspeexdsp.
const Available = false

type impl struct{}

func newImpl(*Config) (*impl, error) { return nil, ErrUnavailable }

func (*impl) process(mic, ref, out []int16) { copy(out, mic) }
func (*impl) reset()                        {}
func (*impl) close()                        {}
