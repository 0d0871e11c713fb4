//go:build !cgo

package swenc

type h264Impl struct{}

func newH264Impl(*Config) (*h264Impl, error) { return nil, ErrNoSoftwareEncoder }

func (*h264Impl) encode([]byte) ([]byte, error) { return nil, ErrNoSoftwareEncoder }
func (*h264Impl) forceKeyframe()                {}
func (*h264Impl) setBitrate(int)                {}
func (*h264Impl) close() error                  { return nil }
