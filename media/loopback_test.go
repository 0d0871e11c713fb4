package media

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"tether/media/h264"
)

// rxUnit is one access unit as the receiving peer rebuilt it.
type rxUnit struct {
	data []byte
	at   time.Time
	key  bool
}

// loopbackPair connects a sending PeerConnection carrying the pipeline's
// tracks to a receiving one in the same process, over real UDP on 127.0.0.1.
// The sender forwards PLI and FIR to RequestKeyframe, as appliance/peer
// does; the receiver rebuilds H.264 access units and counts Opus packets.
type loopbackPair struct {
	send, recv *webrtc.PeerConnection
	units      chan rxUnit
	audio      chan struct{}
	videoSSRC  chan webrtc.SSRC
	wg         sync.WaitGroup
}

func loopbackAPI() *webrtc.API {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(0)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

func newLoopbackPair(tb testing.TB, p *Pipeline) *loopbackPair {
	tb.Helper()
	return newLoopbackPairWith(tb, p, nil)
}

// newLoopbackPairWith is newLoopbackPair with the received audio track
// handed to onAudio (the counter's speaker, for the customer-to-appliance
// direction) instead of counted.
func newLoopbackPairWith(tb testing.TB, p *Pipeline, onAudio func(*webrtc.TrackRemote)) *loopbackPair {
	tb.Helper()
	api := loopbackAPI()
	lp := &loopbackPair{units: make(chan rxUnit, 4096), audio: make(chan struct{}, 4096), videoSSRC: make(chan webrtc.SSRC, 1)}
	var err error
	if lp.send, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		tb.Fatal(err)
	}
	if lp.recv, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		tb.Fatal(err)
	}
	for _, tr := range p.Tracks() {
		sender, err := lp.send.AddTrack(tr)
		if err != nil {
			tb.Fatal(err)
		}
		lp.wg.Add(1)
		go func() { // the RTCP reader: PLI/FIR -> RequestKeyframe
			defer lp.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.RequestKeyframe()
					}
				}
			}
		}()
	}
	lp.recv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeAudio && onAudio != nil {
			onAudio(tr)
			return
		}
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				select {
				case lp.audio <- struct{}{}:
				default:
				}
			}
		}
		lp.videoSSRC <- tr.SSRC()
		sb := samplebuilder.New(256, &codecs.H264Packet{}, 90000)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(pkt)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				u := rxUnit{data: s.Data, at: time.Now(), key: h264.Scan(s.Data).IDR}
				select {
				case lp.units <- u:
				default:
				}
			}
		}
	})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := lp.recv.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatal(err)
		}
	}
	offer, err := lp.recv.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gather := webrtc.GatheringCompletePromise(lp.recv)
	if err := lp.recv.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gather
	if err := lp.send.SetRemoteDescription(*lp.recv.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	answer, err := lp.send.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gather = webrtc.GatheringCompletePromise(lp.send)
	if err := lp.send.SetLocalDescription(answer); err != nil {
		tb.Fatal(err)
	}
	<-gather
	if err := lp.recv.SetRemoteDescription(*lp.send.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	return lp
}

func (lp *loopbackPair) close() {
	lp.send.Close()
	lp.recv.Close()
	lp.wg.Wait()
}

// next waits up to d for the next received access unit.
func (lp *loopbackPair) next(tb testing.TB, d time.Duration) rxUnit {
	tb.Helper()
	select {
	case u := <-lp.units:
		return u
	case <-time.After(d):
		tb.Fatalf("no video access unit within %v", d)
	}
	return rxUnit{}
}

// pli sends a Picture Loss Indication (RFC 4585 §6.3.1) for the video.
func (lp *loopbackPair) pli(tb testing.TB, ssrc webrtc.SSRC) {
	if err := lp.recv.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}}); err != nil {
		tb.Fatal(err)
	}
}

// drain empties the unit queue.
func (lp *loopbackPair) drain() {
	for {
		select {
		case <-lp.units:
		default:
			return
		}
	}
}

// waitConnected waits (10 s at most) until the sender's peer connection is
// connected, so its tracks are bound.
func (lp *loopbackPair) waitConnected(tb testing.TB) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if lp.send.ConnectionState() == webrtc.PeerConnectionStateConnected {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling a pion state, not waiting for our own behaviour
	}
	tb.Fatal("loopback pair did not connect within 10s")
}
