package media

import (
	"context"
	"errors"
	"fmt"

	"tether/media/camera"
	"tether/media/mic"
	"tether/media/speaker"
)

// CameraOpener returns a Config.OpenCamera for a V4L2 camera. A missing
// node maps to ErrNoDevice, so a board without a camera reports it missing
// at start-up and a camera unplugged later is reopened.
func CameraOpener(cfg camera.Config) func() (VideoSource, error) {
	return func() (VideoSource, error) {
		c, err := camera.Open(cfg)
		if err != nil {
			if errors.Is(err, camera.ErrNoDevice) {
				return nil, fmt.Errorf("%w: %w", ErrNoDevice, err)
			}
			return nil, err
		}
		return cameraSource{c}, nil
	}
}

type cameraSource struct{ c *camera.Camera }

func (s cameraSource) ReadFrame(ctx context.Context) (RawFrame, error) {
	f, err := s.c.ReadFrame(ctx)
	if err != nil {
		return RawFrame{}, err
	}
	return RawFrame{Data: f.Data, Format: f.Format, Width: f.Width, Height: f.Height, Time: f.Time}, nil
}

func (s cameraSource) Close() error { return s.c.Close() }

// MicOpener returns a Config.OpenMic for an ALSA capture device: path, or
// the first card whose name contains hint (e.g. the board profile's
// CardHint), or the first capture device. No device maps to ErrNoDevice.
func MicOpener(path, hint string) func() (AudioSource, error) {
	return alsaOpener(path, hint, mic.Find, func(p string) (AudioSource, error) {
		return mic.Open(mic.Config{Path: p})
	}, mic.ErrNoDevice)
}

// SpeakerOpener returns a PlayerConfig.OpenSpeaker for an ALSA playback
// device, found as MicOpener finds the capture device.
func SpeakerOpener(path, hint string) func() (AudioSink, error) {
	return alsaOpener(path, hint, speaker.Find, func(p string) (AudioSink, error) {
		return speaker.Open(speaker.Config{Path: p})
	}, speaker.ErrNoDevice)
}

// alsaOpener opens path, or the node find returns for hint; the driver's
// noDevice (and no node found) map to ErrNoDevice.
func alsaOpener[T any](path, hint string, find func(string) (string, error), open func(string) (T, error),
	noDevice error) func() (T, error) {
	return func() (T, error) {
		var zero T
		p := path
		if p == "" {
			var err error
			if p, err = find(hint); err != nil {
				return zero, fmt.Errorf("%w: %w", ErrNoDevice, err)
			}
		}
		d, err := open(p)
		if err != nil {
			if errors.Is(err, noDevice) {
				return zero, fmt.Errorf("%w: %w", ErrNoDevice, err)
			}
			return zero, err
		}
		return d, nil
	}
}
