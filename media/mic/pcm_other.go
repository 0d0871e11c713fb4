//go:build !linux

package mic

func openPCM(string) (device, error) { return nil, ErrUnsupported }

// Find reports that there is no ALSA on this system.
func Find(string) (string, error) { return "", ErrUnsupported }
