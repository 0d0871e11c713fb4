//go:build !cgo

package swenc

// Available is false: this build has no software encoders (cgo off), so
// no audio at all and no video without a hardware encoder. The appliance
// reports it as a fault at start-up (issue 11).
const Available = false

type h264Impl struct{}

func newH264Impl(*Config) (*h264Impl, error) { return nil, ErrNoSoftwareEncoder }

func (*h264Impl) encode([]byte) ([]byte, error) { return nil, ErrNoSoftwareEncoder }
func (*h264Impl) forceKeyframe()                {}
func (*h264Impl) setBitrate(int)                {}
func (*h264Impl) close() error                  { return nil }
