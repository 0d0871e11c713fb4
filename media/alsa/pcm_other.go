//go:build !linux

package alsa

import "time"

// PCM is unavailable off Linux.
type PCM struct{}

// Open reports that there is no ALSA on this system.
func Open(string) (*PCM, error) { return nil, ErrUnsupported }

func (*PCM) HWParams(*HWParams) error         { return ErrUnsupported }
func (*PCM) Prepare() error                   { return ErrUnsupported }
func (*PCM) ReadI([]int16, int) (int, error)  { return 0, ErrUnsupported }
func (*PCM) WriteI([]int16, int) (int, error) { return 0, ErrUnsupported }
func (*PCM) Delay() (int, error)              { return 0, ErrUnsupported }
func (*PCM) Poll(time.Duration) (bool, error) { return false, ErrUnsupported }
func (*PCM) Close() error                     { return nil }

// Find reports that there is no ALSA on this system.
func Find(Dir, string) (string, error) { return "", ErrUnsupported }
