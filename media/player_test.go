package media

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"tether/internal/testenv"
)

// fakeTrack is a customer's track fed by the test; like a TrackRemote, it
// honours SetReadDeadline and ends when closed.
type fakeTrack struct {
	pkts     chan *rtp.Packet
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // poked by SetReadDeadline
}

func newFakeTrack() *fakeTrack {
	return &fakeTrack{pkts: make(chan *rtp.Packet, 256), done: make(chan struct{}), wake: make(chan struct{}, 1)}
}

var errDeadline = errors.New("fake track: deadline")

func (f *fakeTrack) ReadRTP() (*rtp.Packet, interceptor.Attributes, error) {
	for {
		f.mu.Lock()
		dl := f.deadline
		f.mu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return nil, nil, errDeadline
		}
		select {
		case p := <-f.pkts:
			return p, nil, nil
		case <-f.done:
			return nil, nil, errors.New("fake track: closed")
		case <-f.wake:
		}
	}
}

func (f *fakeTrack) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	f.deadline = t
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeTrack) close() { f.once.Do(func() { close(f.done) }) }

func (f *fakeTrack) send(seq uint16, payload ...byte) {
	f.pkts <- &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960, PayloadType: 111}, Payload: payload}
}

// markDecoder "decodes" a packet into 960 samples of its first byte;
// concealment gives -1 and FEC the negated byte of the packet carrying it
// (which stands for the frame before it).
type markDecoder struct{ resets atomic.Int64 }

func (d *markDecoder) Decode(pkt []byte, out []int16, fec bool) (int, error) {
	v := int16(-1)
	switch {
	case pkt == nil:
	case len(pkt) > 1 && pkt[1] == 0xee:
		return 0, errors.New("corrupt")
	case fec:
		v = -int16(pkt[0])
	default:
		v = int16(pkt[0])
		out = out[:960]
	}
	for i := range out {
		out[i] = v
	}
	return len(out), nil
}
func (d *markDecoder) Reset()       { d.resets.Add(1) }
func (d *markDecoder) Close() error { return nil }

// stepSink is a speaker the test paces: each Write hands its chunk's first
// sample to got and returns only when the test ticks. A failure scripted
// in fail is returned instead.
type stepSink struct {
	got   chan int16
	tick  chan struct{}
	fail  chan error
	opens *atomic.Int64
}

func (s *stepSink) Write(ctx context.Context, pcm []int16) error {
	select {
	case err := <-s.fail:
		return err
	default:
	}
	select {
	case s.got <- pcm[0]:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-s.tick:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stepSink) Close() error { return nil }

type playerRig struct {
	p      *Player
	sink   *stepSink
	dec    *markDecoder
	opens  atomic.Int64
	cancel context.CancelFunc
	done   chan error
}

func startPlayer(t *testing.T, mod func(*PlayerConfig)) *playerRig {
	t.Helper()
	r := &playerRig{dec: &markDecoder{}, done: make(chan error, 1)}
	r.sink = &stepSink{got: make(chan int16), tick: make(chan struct{}), fail: make(chan error, 1), opens: &r.opens}
	cfg := PlayerConfig{
		OpenSpeaker: func() (AudioSink, error) { r.opens.Add(1); return r.sink, nil },
		NewDecoder:  func() (AudioDecoder, error) { return r.dec, nil },
		Volume:      100,
		ReopenMin:   time.Millisecond, ReopenMax: 2 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewPlayer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *playerRig) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // stop is idempotent
}

// chunk returns the first sample of the next chunk written and lets the
// player go on.
func (r *playerRig) chunk(t *testing.T) int16 {
	t.Helper()
	select {
	case v := <-r.sink.got:
		r.sink.tick <- struct{}{}
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no chunk written within 10 s")
	}
	return 0
}

// hold returns the first sample of the next chunk written and leaves the
// player blocked in that Write until release: packets sent meanwhile are
// all there for the next chunk.
func (r *playerRig) hold(t *testing.T) int16 {
	t.Helper()
	select {
	case v := <-r.sink.got:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no chunk written within 10 s")
	}
	return 0
}

func (r *playerRig) release() { r.sink.tick <- struct{}{} }

// settle waits until the player's goroutine has taken n packets from the
// readers (bounded wait; the readers are goroutines).
func (r *playerRig) settle(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if len(r.p.pkts) >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d of %d packets reached the player", len(r.p.pkts), n)
}

func TestPlayerJitterAndConcealment(t *testing.T) {
	r := startPlayer(t, nil)
	if v := r.hold(t); v != 0 {
		t.Fatalf("no customer: sample %d, want silence", v)
	}
	tr := newFakeTrack()
	defer tr.close()
	r.p.SetSource(tr)
	// 1, 2, 3 in order; 5 before 4 (reordered); 6 lost (7 carries its FEC);
	// 8 lost with nothing after it until it comes late.
	for _, s := range []uint16{1, 2, 3, 5, 4, 7} {
		tr.send(s, byte(s))
	}
	r.settle(t, 6)
	r.release()
	var got []int16
	for range 9 {
		got = append(got, r.chunk(t))
	}
	got = append(got, r.hold(t)) // computed before 8 came
	tr.send(8, 8)                // late but within concealment: still played
	tr.send(9, 9)
	r.settle(t, 2)
	r.release()
	got = append(got, r.chunk(t), r.chunk(t))
	if want := []int16{1, 2, 3, 4, 5, -7, 7, -1, -1, -1, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("played %v, want %v", got, want)
	}
	st := r.p.Status()
	if st.Packets != 8 || st.Recovered != 1 || st.Concealed < 2 || !st.Customer || st.Speaker != SourceOK {
		t.Fatalf("status %+v", st)
	}
	// Silence after MaxConceal frames without packets, then buffering
	// afresh.
	for i := 0; i < 10; i++ {
		r.chunk(t)
	}
	if v := r.chunk(t); v != 0 {
		t.Fatalf("a stalled customer: sample %d, want silence", v)
	}
}

func TestPlayerHostilePackets(t *testing.T) {
	r := startPlayer(t, nil)
	r.hold(t)
	tr := newFakeTrack()
	defer tr.close()
	r.p.SetSource(tr)
	tr.send(10, 10)
	tr.send(10, 10)      // duplicate
	tr.send(11)          // empty payload
	tr.send(11, 1, 0xee) // the decoder refuses it
	for s := uint16(12); s < 60; s++ {
		tr.send(s, byte(s)) // a burst far beyond MaxJitter
	}
	tr.send(40000, 1) // a jump: starts afresh
	r.settle(t, 51)
	r.release()
	for i := 0; i < 3; i++ {
		r.chunk(t)
	}
	st := r.p.Status()
	if st.Dropped < 40 {
		t.Fatalf("dropped %d of a 48-packet burst, want the excess over MaxJitter", st.Dropped)
	}
}

func TestPlayerVolume(t *testing.T) {
	r := startPlayer(t, func(c *PlayerConfig) { c.JitterPackets = 1 })
	r.hold(t)
	tr := newFakeTrack()
	defer tr.close()
	r.p.SetSource(tr)
	r.p.SetVolume(50)
	tr.send(1, 100)
	tr.send(2, 100)
	r.settle(t, 2)
	r.release()
	if v := r.chunk(t); v != 50 {
		t.Fatalf("at 50%%: %d, want 50", v)
	}
	r.p.SetVolume(500)
	if r.p.Status().Volume != 100 {
		t.Fatalf("volume %d", r.p.Status().Volume)
	}
}

func TestPlayerDeviceLossAndMissing(t *testing.T) {
	t.Run("lost and reopened", func(t *testing.T) {
		var states []SourceState
		var mu sync.Mutex
		r := startPlayer(t, func(c *PlayerConfig) {
			c.OnChange = func(s PlayerStatus) { mu.Lock(); states = append(states, s.Speaker); mu.Unlock() }
		})
		r.chunk(t)
		r.sink.fail <- syscall.ENODEV
		r.chunk(t) // the old device's last chunk, or the reopened one's first
		r.chunk(t)
		if r.opens.Load() != 2 {
			t.Fatalf("opened %d times", r.opens.Load())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(states) != 3 || states[0] != SourceOK || states[1] != SourceReopening || states[2] != SourceOK {
			t.Fatalf("states %v", states)
		}
	})
	t.Run("missing at start, plugged in later", func(t *testing.T) {
		var present atomic.Bool
		r := startPlayer(t, func(c *PlayerConfig) {
			c.DeviceProbe = 5 * time.Millisecond
			open := c.OpenSpeaker
			c.OpenSpeaker = func() (AudioSink, error) {
				if !present.Load() {
					return nil, ErrNoDevice
				}
				return open()
			}
		})
		for deadline := time.Now().Add(10 * time.Second); r.p.Status().Speaker != SourceMissing; {
			if time.Now().After(deadline) {
				t.Fatalf("state %v, want missing", r.p.Status().Speaker)
			}
			time.Sleep(time.Millisecond)
		}
		present.Store(true)
		r.chunk(t)
		if st := r.p.Status(); st.Speaker != SourceOK || st.SpeakerError != "" {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("no speaker configured", func(t *testing.T) {
		p, err := NewPlayer(PlayerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Status(); st.Speaker != SourceOff || st.Speaker.Working() {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("no decoder", func(t *testing.T) {
		r := startPlayer(t, func(c *PlayerConfig) {
			c.NewDecoder = func() (AudioDecoder, error) { return nil, ErrNoDecoder }
		})
		for deadline := time.Now().Add(10 * time.Second); r.p.Status().Speaker != SourceOff; {
			if time.Now().After(deadline) {
				t.Fatalf("state %v, want off", r.p.Status().Speaker)
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// TestPlayerCustomerChanges switches the customer many times (50 by
// default; TETHER_SPEAKER_SWITCHES=1000 for the long run): the
// device is opened once, every replaced reader ends, and goroutines, fds
// and heap come back to where they were.
func TestPlayerCustomerChanges(t *testing.T) {
	n := 50
	if s := os.Getenv("TETHER_SPEAKER_SWITCHES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 100000 {
			t.Fatalf("TETHER_SPEAKER_SWITCHES=%q", s)
		}
	}
	r := startPlayer(t, func(c *PlayerConfig) { c.JitterPackets = 1 })
	r.chunk(t)
	switchOnce := func(i int) {
		tr := newFakeTrack()
		r.p.SetSource(tr)
		tr.send(uint16(i), byte(i%100+1))
		tr.send(uint16(i+1), byte(i%100+1))
		r.chunk(t)
		r.chunk(t)
		if i%2 == 0 {
			r.p.SetSource(nil) // the customer left before the next came
			r.chunk(t)
		}
		// Half the old tracks stay open: SetReadDeadline alone must end
		// their readers.
		if i%4 == 0 {
			tr.close()
		}
	}
	for i := 0; i < 20; i++ { // warm up the pools
		switchOnce(i)
	}
	g0, fd0, h0 := resources(t, r.p)
	for i := 0; i < n; i++ {
		switchOnce(i)
	}
	r.p.SetSource(nil)
	g1, fd1, h1 := resources(t, r.p)
	t.Logf("%d customer changes: goroutines %d -> %d, fds %d -> %d, heap %d -> %d KiB", n, g0, g1, fd0, fd1, h0>>10, h1>>10)
	if r.opens.Load() != 1 {
		t.Errorf("the speaker was opened %d times", r.opens.Load())
	}
	if g1 > g0 || fd1 > fd0 || h1 > h0+1<<20 {
		t.Errorf("leak over %d changes: goroutines %d -> %d, fds %d -> %d, heap %d -> %d", n, g0, g1, fd0, fd1, h0, h1)
	}
	if st := r.p.Status(); st.Switches < uint64(n) {
		t.Errorf("switches %d", st.Switches)
	}
}

// resources counts goroutines (once every replaced reader has ended),
// open fds and live heap.
func resources(t *testing.T, p *Player) (goroutines, fds int, heap uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.srcMu.Lock()
		want := int64(0)
		if p.cur != nil {
			want = 1
		}
		p.srcMu.Unlock()
		if p.live.Load() == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d track readers still running, want %d", p.live.Load(), want)
		}
	}
	return testenv.Resources()
}

// A burst leaves the queue deeper than JitterPackets; the depth control
// drops frames (decoded, not played) until the lag between the newest
// packet and the one played is back at the target, and then leaves a
// steady queue alone (issue 15: the latency the appliance adds to the
// customer's voice).
func TestPlayerShrinksABurst(t *testing.T) {
	r := startPlayer(t, nil)
	r.hold(t)
	tr := newFakeTrack()
	defer tr.close()
	r.p.SetSource(tr)
	const burst = 8
	for s := uint16(1); s <= burst; s++ {
		tr.send(s, byte(s))
	}
	r.settle(t, burst)
	seq := uint16(burst)
	step := func() int {
		r.release()
		v := r.hold(t)
		seq++
		tr.send(seq, byte(seq))
		r.settle(t, 1)
		return int(seq) - 1 - int(v) // packets queued behind the one played
	}
	first := step()
	for range 150 {
		step()
	}
	lag := step()
	shrunk := r.p.Status().Shrunk
	if first < burst-1 || lag > r.p.cfg.JitterPackets || shrunk == 0 {
		t.Fatalf("lag %d packets after the burst, %d after 150 frames, %d shrunk; want back to %d", first, lag, shrunk, r.p.cfg.JitterPackets)
	}
	for range 100 {
		step()
	}
	st := r.p.Status()
	if st.Shrunk != shrunk || st.Concealed != 0 || st.Late != 0 {
		t.Fatalf("a steady queue at the target: %+v (shrunk %d before)", st, shrunk)
	}
	r.release()
}
