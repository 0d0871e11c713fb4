package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/interceptor/pkg/jitterbuffer"
	"github.com/pion/rtp"

	"tether/internal/backoff"
	"tether/media/swenc"
)

// AudioSink is the speaker (media/speaker) or a test's recorder: Write
// returns once pcm (48 kHz mono) is queued for playing, so it paces its
// caller at the sound card's clock; an error other than the context's
// means the device is lost and the player closes and reopens it.
type AudioSink interface {
	Write(ctx context.Context, pcm []int16) error
	Close() error
}

// AudioDecoder is the Opus decoder (swenc.OpusDecoder or a fake): a nil
// packet conceals a lost frame; fec decodes the previous frame's copy
// carried in packet (RFC 6716 §2.1.7).
type AudioDecoder interface {
	Decode(packet []byte, out []int16, fec bool) (int, error)
	Reset()
	Close() error
}

// EchoReference takes every chunk handed to the speaker, with what the
// speaker's ring still held right after (0 when unknown): the echo
// canceller's reference (aec.Canceller).
type EchoReference interface {
	Playback(pcm []int16, queued time.Duration)
}

// delayer is implemented by a speaker that can tell how much sound waits
// in its ring (speaker.Speaker).
type delayer interface {
	Delay() (time.Duration, error)
}

// PlayerConfig describes the customer's audio on the counter's speaker.
// Zero fields take the defaults noted.
type PlayerConfig struct {
	// OpenSpeaker opens the speaker; nil means none is configured (the
	// speaker state is off). ErrNoDevice from its first calls is
	// SourceMissing, looked for every DeviceProbe.
	OpenSpeaker func() (AudioSink, error)
	// NewDecoder makes the Opus decoder (default swenc.NewOpusDecoder;
	// with cgo off there is none, and the speaker is off).
	NewDecoder func() (AudioDecoder, error)
	// Echo, when set, is given every chunk written to the speaker.
	Echo EchoReference
	// Volume in percent of full scale, 0..100 (default 80); SetVolume
	// changes it.
	Volume int
	// JitterPackets is how many packets are buffered before a customer's
	// audio starts (default 2, 40 ms at browsers' 20 ms packets): the
	// jitter the path may add without a gap, and the larger part of the
	// latency the appliance adds to the customer's voice (issue 15's goal
	// is 60 ms at the median).
	JitterPackets int
	// MaxJitter bounds the buffer (default 8 packets): beyond it the
	// oldest packet is dropped, so a burst or a fast sender clock cannot
	// grow the latency or the memory.
	MaxJitter int
	// MaxConceal is how many lost frames in a row are concealed (default
	// 5, 100 ms) before the player falls silent and buffers afresh.
	MaxConceal int
	// DeviceProbe, ReopenMin and ReopenMax as in Config (default 5 s,
	// 500 ms, 30 s).
	DeviceProbe, ReopenMin, ReopenMax time.Duration
	// OnChange is called (from the player's goroutine; it must not block)
	// when the speaker's state changes.
	OnChange func(PlayerStatus)
	Clock    clockwork.Clock
	Logger   *slog.Logger
}

func (c *PlayerConfig) setDefaults() error {
	if c.NewDecoder == nil {
		c.NewDecoder = newOpusDecoder
	}
	if c.Volume == 0 {
		c.Volume = 80
	}
	if c.JitterPackets == 0 {
		c.JitterPackets = 2
	}
	if c.MaxJitter == 0 {
		c.MaxJitter = 8
	}
	if c.MaxConceal == 0 {
		c.MaxConceal = 5
	}
	deviceDefaults(&c.DeviceProbe, &c.ReopenMin, &c.ReopenMax)
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Volume < 0 || c.Volume > 100:
		return fmt.Errorf("%w: volume %d%%", ErrConfig, c.Volume)
	case c.JitterPackets < 1 || c.MaxJitter < c.JitterPackets+1 || c.MaxJitter > 50:
		return fmt.Errorf("%w: jitter buffer %d..%d packets", ErrConfig, c.JitterPackets, c.MaxJitter)
	case c.MaxConceal < 1 || c.MaxConceal > 50:
		return fmt.Errorf("%w: %d concealed frames", ErrConfig, c.MaxConceal)
	case c.ReopenMin <= 0 || c.ReopenMax < c.ReopenMin:
		return fmt.Errorf("%w: reopen backoff %v..%v", ErrConfig, c.ReopenMin, c.ReopenMax)
	}
	return nil
}

func newOpusDecoder() (AudioDecoder, error) {
	d, err := swenc.NewOpusDecoder()
	if err != nil {
		if errors.Is(err, swenc.ErrNoSoftwareEncoder) {
			return nil, fmt.Errorf("%w: no speaker without cgo (libopus): %w", ErrNoDecoder, err)
		}
		return nil, err
	}
	return d, nil
}

// PlayerStatus is the speaker's health and the customer's audio, for the
// health tracker, console, setup page and metrics.
type PlayerStatus struct {
	Speaker      SourceState // off: none configured, or no decoder (cgo off)
	SpeakerError string
	// Customer is true while a customer's audio track is attached.
	Customer bool
	// Volume in percent.
	Volume int
	// Packets decoded; Concealed frames made up by PLC, Recovered from
	// the next packet's FEC; Late packets that came after their turn and
	// Dropped ones the bounded buffer (or a bad packet) discarded;
	// Shrunk frames decoded but not played to bring a queue a burst left
	// deeper than JitterPackets back down (see shrink).
	Packets, Concealed, Recovered, Late, Dropped, Shrunk uint64
	// Switches counts customer changes (SetSource).
	Switches uint64
	// Latency is the time from a packet's arrival to its samples going to
	// the speaker, smoothed over about the last 16 packets.
	Latency time.Duration
}

// inPacket is one received packet, stamped on arrival.
type inPacket struct {
	pkt *rtp.Packet
	gen uint64
	at  time.Time
}

// Player plays the customer's audio track on the counter's speaker. Run
// owns the device, which stays open (playing silence) between customers;
// SetSource, SetVolume and Status are safe from any goroutine.
type Player struct {
	cfg     PlayerConfig
	log     *slog.Logger
	running atomic.Bool
	volume  atomic.Int32
	gen     atomic.Uint64 // the current source's generation
	pkts    chan inPacket

	srcMu   sync.Mutex // guards cur and stopped
	cur     *trackReader
	stopped bool
	readers sync.WaitGroup
	live    atomic.Int64 // readers running (tests check replaced ones end)

	mu sync.Mutex // guards st
	st PlayerStatus
	// onLatency, when set (tests, benchmarks), sees every packet's
	// latency.
	onLatency func(time.Duration)

	packets, concealed, recovered, late, dropped, switches, shrunk atomic.Uint64
}

// NewPlayer validates cfg. Nothing is opened until Run.
func NewPlayer(cfg PlayerConfig) (*Player, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Player{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "speaker"),
		pkts: make(chan inPacket, 64),
	}
	p.volume.Store(int32(cfg.Volume))
	p.st.Speaker = SourceStarting
	if cfg.OpenSpeaker == nil {
		p.st.Speaker, p.st.SpeakerError = SourceOff, "no speaker configured"
	}
	return p, nil
}

// SetVolume sets the playback volume, 0..100 percent (clamped), from the
// next chunk on.
func (p *Player) SetVolume(percent int) {
	p.volume.Store(int32(max(0, min(100, percent))))
}

// readDeadliner is implemented by *webrtc.TrackRemote: a deadline in the
// past ends a blocked ReadRTP, so a replaced customer's reader stops at
// once instead of when its peer connection closes.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// trackReader is the goroutine reading one customer's track.
type trackReader struct {
	src  RTPReader
	gen  uint64
	stop chan struct{}
}

// SetSource attaches the customer's audio track (nil: no customer, the
// speaker plays silence). The previous track's reader is stopped; the
// device is not reopened. A track without SetReadDeadline must end its
// ReadRTP with an error when its peer closes.
func (p *Player) SetSource(src RTPReader) {
	p.srcMu.Lock()
	defer p.srcMu.Unlock()
	if p.stopped || (p.cur != nil && p.cur.src == src) || (p.cur == nil && src == nil) {
		return
	}
	p.stopReader()
	gen := p.gen.Add(1)
	p.switches.Add(1)
	p.mu.Lock()
	p.st.Customer = src != nil
	p.mu.Unlock()
	if src == nil {
		return
	}
	if d, ok := src.(readDeadliner); ok {
		_ = d.SetReadDeadline(time.Time{}) // a track given back after a nil
	}
	r := &trackReader{src: src, gen: gen, stop: make(chan struct{})}
	p.cur = r
	p.readers.Add(1)
	p.live.Add(1) // counted before it starts, so a waiter never misses it
	go func() { defer p.live.Add(-1); p.read(r) }()
}

// stopReader stops the current reader; srcMu held.
func (p *Player) stopReader() {
	r := p.cur
	if r == nil {
		return
	}
	p.cur = nil
	close(r.stop)
	if d, ok := r.src.(readDeadliner); ok {
		_ = d.SetReadDeadline(time.Now()) // an I/O deadline: wall clock
	}
}

func (p *Player) read(r *trackReader) {
	defer p.readers.Done()
	for {
		pkt, _, err := r.src.ReadRTP()
		if err != nil {
			return
		}
		select {
		case <-r.stop:
			return
		default:
		}
		select {
		case p.pkts <- inPacket{pkt: pkt, gen: r.gen, at: p.cfg.Clock.Now()}:
		default: // the player is behind (device reopening): drop
			p.dropped.Add(1)
		}
	}
}

// Status returns a snapshot of the speaker and the customer's audio.
func (p *Player) Status() PlayerStatus {
	p.mu.Lock()
	s := p.st
	p.mu.Unlock()
	s.Volume = int(p.volume.Load())
	s.Packets, s.Concealed, s.Recovered = p.packets.Load(), p.concealed.Load(), p.recovered.Load()
	s.Late, s.Dropped, s.Switches = p.late.Load(), p.dropped.Load(), p.switches.Load()
	s.Shrunk = p.shrunk.Load()
	return s
}

func (p *Player) setSpeaker(s SourceState, err error) {
	p.mu.Lock()
	changed := p.st.Speaker != s || p.st.SpeakerError != errString(err)
	p.st.Speaker, p.st.SpeakerError = s, errString(err)
	p.mu.Unlock()
	if changed && p.cfg.OnChange != nil {
		p.cfg.OnChange(p.Status())
	}
}

func (p *Player) addLatency(d time.Duration) {
	if p.onLatency != nil {
		p.onLatency(d)
	}
	p.mu.Lock()
	if p.st.Latency == 0 {
		p.st.Latency = d
	} else {
		p.st.Latency += (d - p.st.Latency) / 16
	}
	p.mu.Unlock()
}

// Run opens the speaker and plays until ctx ends: the customer's audio
// when a source is attached, silence otherwise. It returns nil then;
// device loss is retried with backoff and reported through Status.
func (p *Player) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer func() {
		p.srcMu.Lock()
		p.stopped = true
		p.stopReader()
		p.srcMu.Unlock()
		p.readers.Wait()
	}()
	if p.cfg.OpenSpeaker == nil {
		<-ctx.Done()
		return nil
	}
	dec, err := p.cfg.NewDecoder()
	if err != nil {
		p.log.Warn("no Opus decoder; speaker off", "err", err)
		p.setSpeaker(SourceOff, err)
		<-ctx.Done()
		return nil
	}
	defer dec.Close()
	pl := &playout{p: p, dec: dec, pcm: make([]int16, swenc.OpusMaxFrame), frame: audioSamples}
	bo := &backoff.Backoff{Min: p.cfg.ReopenMin, Max: p.cfg.ReopenMax, Jitter: ReopenJitter}
	var spk AudioSink
	defer func() {
		if spk != nil {
			spk.Close()
		}
	}()
	first := true
	for ctx.Err() == nil {
		if spk == nil {
			s, err := p.cfg.OpenSpeaker()
			if err != nil {
				if !openFailed(ctx, p.log, p.cfg.Clock, p.cfg.DeviceProbe, "speaker", first, err,
					p.Status().Speaker, p.setSpeaker, bo) {
					return nil
				}
				continue
			}
			first = false
			spk = s
			p.setSpeaker(SourceOK, nil)
		}
		chunk, born := pl.next()
		p.applyVolume(chunk)
		start := p.cfg.Clock.Now()
		if err := spk.Write(ctx, chunk); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Warn("speaker lost; reopening", "err", err)
			spk.Close()
			spk = nil
			p.setSpeaker(SourceReopening, err)
			if !waitBackoff(ctx, p.cfg.Clock, bo) {
				return nil
			}
			continue
		}
		bo.Reset()
		if !born.IsZero() {
			p.addLatency(start.Sub(born))
		}
		if p.cfg.Echo != nil {
			var queued time.Duration
			if d, ok := spk.(delayer); ok {
				queued, _ = d.Delay()
			}
			p.cfg.Echo.Playback(chunk, queued)
		}
	}
	return nil
}

// applyVolume scales pcm in place by the volume (Q15).
func (p *Player) applyVolume(pcm []int16) {
	v := p.volume.Load()
	if v == 100 {
		return
	}
	g := v * 32768 / 100
	for i, s := range pcm {
		pcm[i] = int16(int32(s) * g >> 15)
	}
}

// playout is the Run goroutine's jitter buffer and decoder state.
type playout struct {
	p      *Player
	dec    AudioDecoder
	gen    uint64
	jb     *jitterbuffer.JitterBuffer
	queued int // packets in jb
	// head is the sequence number due next once emitting.
	emitting bool
	missing  int // frames concealed in a row
	lateRun  int // late packets in a row
	played   bool
	pcm      []int16
	frame    int // samples in the last decoded frame (PLC's length)
	arrived  [128]arrivalStamp
	// The depth control's window: frames played in it and the fewest
	// packets queued before any of them.
	winN, winMin int
}

// shrinkWindow is the depth control's window in frames: 500 ms of 20 ms
// packets, long enough that ordinary jitter drains the queue to the target
// at least once in it.
const shrinkWindow = 25

type arrivalStamp struct {
	seq uint16
	at  time.Time
}

// next returns the next chunk for the speaker and the arrival time of the
// packet it came from (zero for silence and concealment).
func (pl *playout) next() ([]int16, time.Time) {
	pl.drain()
	if pl.jb == nil || !pl.emitting {
		return pl.silence(), time.Time{}
	}
	pl.shrink()
	head := pl.jb.PlayoutHead()
	if pkt, err := pl.jb.PopAtSequence(head); err == nil {
		pl.queued--
		return pl.decode(pkt.Payload, false, pl.arrival(pkt))
	}
	// The packet due is missing.
	if pl.queued > 0 {
		pl.jb.SetPlayoutHead(head + 1) // it is lost, not late: later ones are here
		if nxt, err := pl.jb.PeekAtSequence(head + 1); err == nil {
			pl.p.recovered.Add(1)
			return pl.decode(nxt.Payload, true, time.Time{})
		}
		return pl.conceal()
	}
	// Nothing queued: the customer's packets are late or have stopped.
	// Conceal without moving the head, so a late packet still plays.
	if pl.missing >= pl.p.cfg.MaxConceal {
		pl.restart()
		return pl.silence(), time.Time{}
	}
	return pl.conceal()
}

// shrink keeps the queue near JitterPackets (issue 15: the voice latency
// the appliance adds, network in to speaker, <= 60 ms at the median). A
// burst (the sender's or the network's stall released at once, or our own
// goroutine scheduled late on a loaded board) leaves more packets queued
// than the path's jitter needs, and playout at one frame per frame never
// drains them: every later word would be late by the burst. As WebRTC's
// NetEq "accelerate" does, when the queue has not once fallen to the
// target in a whole window, frames are dropped: decoded, so the Opus
// decoder's state stays continuous, and not played. Measured by the customer-voice
// latency benchmark and the Chromium speaker test.
func (pl *playout) shrink() {
	if pl.winN == 0 || pl.queued < pl.winMin {
		pl.winMin = pl.queued
	}
	if pl.winN++; pl.winN < shrinkWindow {
		return
	}
	excess := pl.winMin - pl.p.cfg.JitterPackets
	pl.winN = 0
	// Half the excess (rounded up) per window: a large burst is gone in
	// a few windows, and what stays is at most a skip of a few frames.
	for n := (excess + 1) / 2; n > 0; n-- {
		pkt, err := pl.jb.PopAtSequence(pl.jb.PlayoutHead())
		if err != nil {
			return // a gap at the head: next() conceals it as usual
		}
		pl.queued--
		_, _ = pl.dec.Decode(pkt.Payload, pl.pcm, false) // state only: the frame is skipped
		pl.p.shrunk.Add(1)
	}
}

// drain moves the received packets into the jitter buffer.
func (pl *playout) drain() {
	cur := pl.p.gen.Load()
	if cur != pl.gen {
		pl.gen = cur
		pl.dec.Reset()
		pl.restart()
		pl.played = false
	}
	for {
		select {
		case in := <-pl.p.pkts:
			if in.gen != pl.gen || len(in.pkt.Payload) == 0 {
				continue // a replaced customer's, or empty (padding)
			}
			pl.push(in)
		default:
			return
		}
	}
}

// arrival is when a queued packet arrived: every queued packet is within
// 100 of the head, so seq mod 128 tells them apart.
func (pl *playout) arrival(pkt *rtp.Packet) time.Time {
	if a := pl.arrived[pkt.SequenceNumber%128]; a.seq == pkt.SequenceNumber {
		return a.at
	}
	return time.Time{}
}

func (pl *playout) push(in inPacket) {
	if pl.jb == nil {
		pl.jb = jitterbuffer.New(jitterbuffer.WithMinimumPacketCount(uint16(pl.p.cfg.JitterPackets)))
	}
	seq := in.pkt.SequenceNumber
	if pl.emitting || pl.queued > 0 {
		d := int16(seq - pl.jb.PlayoutHead())
		switch {
		case d < 0 && pl.lateRun < pl.p.cfg.MaxJitter:
			pl.p.late.Add(1)
			pl.lateRun++
			return
		case d < 0 || d > 100:
			// A jump (the sender restarted its sequence, or hostile
			// input): start afresh from this packet.
			pl.restart()
			pl.jb = jitterbuffer.New(jitterbuffer.WithMinimumPacketCount(uint16(pl.p.cfg.JitterPackets)))
		}
	}
	pl.lateRun = 0
	if _, err := pl.jb.PeekAtSequence(seq); err == nil {
		pl.p.dropped.Add(1) // a duplicate
		return
	}
	pl.jb.Push(in.pkt)
	pl.arrived[seq%128] = arrivalStamp{seq: seq, at: in.at}
	pl.queued++
	if !pl.emitting && pl.queued >= pl.p.cfg.JitterPackets {
		pl.emitting = true
	}
	// Bounded: drop the oldest beyond MaxJitter (every queued packet is
	// within 100 of the head, so the loop ends).
	for pl.queued > pl.p.cfg.MaxJitter {
		head := pl.jb.PlayoutHead()
		if _, err := pl.jb.PopAtSequence(head); err == nil {
			pl.queued--
			pl.p.dropped.Add(1)
		} else {
			pl.jb.SetPlayoutHead(head + 1)
		}
	}
}

func (pl *playout) restart() {
	pl.jb = nil
	pl.queued = 0
	pl.emitting = false
	pl.missing = 0
	pl.winN = 0
}

func (pl *playout) decode(payload []byte, fec bool, born time.Time) ([]int16, time.Time) {
	out := pl.pcm
	if fec {
		out = pl.pcm[:pl.frame]
	}
	n, err := pl.dec.Decode(payload, out, fec)
	if err != nil || n == 0 {
		pl.p.dropped.Add(1)
		return pl.conceal()
	}
	pl.missing = 0
	pl.played = true
	pl.frame = n
	if !fec {
		pl.p.packets.Add(1)
	}
	return pl.pcm[:n], born
}

func (pl *playout) conceal() ([]int16, time.Time) {
	if !pl.played {
		return pl.silence(), time.Time{}
	}
	pl.missing++
	pl.p.concealed.Add(1)
	n, err := pl.dec.Decode(nil, pl.pcm[:pl.frame], false)
	if err != nil || n == 0 {
		return pl.silence(), time.Time{}
	}
	return pl.pcm[:n], time.Time{}
}

func (pl *playout) silence() []int16 {
	s := pl.pcm[:audioSamples]
	clear(s)
	return s
}
