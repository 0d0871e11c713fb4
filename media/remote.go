package media

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// RTPReader is one of the customer's incoming tracks as the appliance's
// output side (speaker, screen) consumes it: *webrtc.TrackRemote satisfies
// it, and so does a test's in-memory source. Declared here, the lowest layer
// that plays the customer's media (issue 15), so that media never imports
// the peer.
type RTPReader interface {
	ReadRTP() (*rtp.Packet, interceptor.Attributes, error)
}
