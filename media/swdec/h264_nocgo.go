//go:build !cgo

package swdec

// Available is false: this build has no software decoder (cgo off).
const Available = false

type h264Impl struct{}

func newH264Impl() (*h264Impl, error)                  { return nil, ErrNoSoftwareDecoder }
func (*h264Impl) decode([]byte) (Picture, bool, error) { return Picture{}, false, ErrNoSoftwareDecoder }
func (*h264Impl) close()                               {}
