package display

import (
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"tether/media"
	"tether/media/h264"
)

// MaxAccessUnit bounds one reassembled picture: a customer's stream is
// hostile input, and a constrained-baseline 1080p IDR at WebRTC bitrates
// stays far below it.
const MaxAccessUnit = 2 << 20

// sendWait bounds how long the reader waits for Run to take a unit (the
// samplebuilder's own delay bound, Config.MaxDelay's default), after which a slow screen loses the picture
// chain rather than letting RTP pile up in the peer's buffers.
const sendWait = 500 * time.Millisecond

// au is one access unit of customer generation gen.
type au struct {
	gen  uint64
	data []byte
	ssrc uint32
}

// read is the reader goroutine of one customer track: RTP packets through
// pion's samplebuilder (reordering within MaxLate packets, H.264 RTP
// depacketizing per RFC 6184 into Annex B) into access units for Run. It
// gates on keyframes: after a gap (lost packets, a unit dropped because
// Run was busy) nothing goes to the decoder until the next IDR, which it
// asks for (RTCP PLI through Config.RequestKeyframe, RFC 4585 §6.3.1).
// It ends when ReadRTP fails (the track ended) or stop is closed.
func (d *Display) read(r media.RTPReader, gen uint64, stop <-chan struct{}) {
	defer d.readers.Done()
	sb := samplebuilder.New(d.cfg.MaxLate, &codecs.H264Packet{}, 90000,
		samplebuilder.WithMaxTimeDelay(d.cfg.MaxDelay))
	waitKey := true
	// A burst (after a network stall) may outrun the decoder for a few
	// frames: the reader waits up to sendWait for Run before dropping.
	// A plain timer, not the injected clock: this bounds back-pressure
	// in real time, and Go's timers (go 1.23+) have no stale ticks after
	// Stop or Reset.
	wait := time.NewTimer(sendWait)
	wait.Stop()
	defer wait.Stop()
	for {
		pkt, _, err := r.ReadRTP()
		if err != nil {
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		if len(pkt.Payload) > 64<<10 { // no RTP payload is that large
			continue
		}
		ssrc := pkt.SSRC
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if s.PrevDroppedPackets > 0 || len(s.Data) > MaxAccessUnit {
				d.lost.Add(1)
				waitKey = true
			}
			if waitKey {
				if len(s.Data) > MaxAccessUnit || !h264.Scan(s.Data).IDR {
					d.requestKeyframe(ssrc)
					continue
				}
				waitKey = false
			}
			wait.Reset(sendWait)
			select {
			case d.aus <- au{gen: gen, data: s.Data, ssrc: ssrc}:
				wait.Stop()
			case <-stop:
				return
			case <-wait.C:
				// Run is behind (a slow screen): drop, and restart the
				// picture chain at the next keyframe.
				d.dropped.Add(1)
				waitKey = true
				d.requestKeyframe(ssrc)
			}
		}
	}
}

// requestKeyframe calls Config.RequestKeyframe at most once per
// Config.KeyframeInterval (a PLI storm helps nobody: the sender's encoder
// needs a frame time to answer). Safe from any goroutine.
func (d *Display) requestKeyframe(ssrc uint32) {
	now := d.cfg.Clock.Now().UnixNano()
	last := d.lastPLI.Load()
	if last != 0 && time.Duration(now-last) < d.cfg.KeyframeInterval {
		return
	}
	if !d.lastPLI.CompareAndSwap(last, now) {
		return
	}
	d.keyReqs.Add(1)
	if d.cfg.RequestKeyframe != nil {
		d.cfg.RequestKeyframe(ssrc)
	}
}
