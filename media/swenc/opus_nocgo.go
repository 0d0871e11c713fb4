//go:build !cgo

package swenc

type opusImpl struct{}

func newOpusImpl(*OpusConfig) (*opusImpl, error) { return nil, ErrNoSoftwareEncoder }

func (*opusImpl) encode([]int16, []byte) (int, error) { return 0, ErrNoSoftwareEncoder }
func (*opusImpl) setBitrate(int) error                { return ErrNoSoftwareEncoder }
func (*opusImpl) fec() bool                           { return false }
func (*opusImpl) close()                              {}

type opusDecImpl struct{}

func newOpusDecImpl() (*opusDecImpl, error) { return nil, ErrNoSoftwareEncoder }

func (*opusDecImpl) decode([]byte, []int16, bool) (int, error) { return 0, ErrNoSoftwareEncoder }
func (*opusDecImpl) reset()                                    {}
func (*opusDecImpl) close()                                    {}
