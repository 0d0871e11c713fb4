//go:build linux

package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Delayer holds the packets its rules select for a fixed delay.
type Delayer struct {
	ns    string
	d     time.Duration
	queue uint16
	rules [][]string // full iptables -D arguments
	nf    *nfqueue.Nfqueue
	stopR context.CancelFunc // stops the netlink reader
	held  chan heldPacket
	flush chan struct{} // closed: accept what is held at once
	// flushing is set with flush: the hook accepts at once.
	flushing atomic.Bool
	done     chan struct{} // closed when the releaser has exited

	delayed, overflow, errs atomic.Uint64

	stopOnce sync.Once
	stopErr  error
}

type heldPacket struct {
	id  uint32
	due time.Time
}

// Delay starts holding the packets that the rules select in namespace ns
// for d each, until Stop or until ctx is done (then it stops itself). Each
// rule is inserted at the top of its chain once the queue is bound, so no
// packet meets a queue without its reader.
func Delay(ctx context.Context, ns string, d time.Duration, o DelayOptions, rules ...Rule) (*Delayer, error) {
	if len(rules) == 0 {
		return nil, fmt.Errorf("%w: no rule", ErrDelay)
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	f, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDelay, err)
	}
	defer f.Close()
	dl := &Delayer{ns: ns, d: d, held: make(chan heldPacket, o.MaxHeld), flush: make(chan struct{}), done: make(chan struct{})}
	// A queue number is the namespace's; another Delayer there may have
	// taken one: binding a taken number fails, so try a few.
	var rctx context.Context
	for try := 0; ; try++ {
		dl.queue = uint16(1000 + rand.IntN(60000))
		rctx, dl.stopR = context.WithCancel(context.Background())
		if err = dl.open(rctx, int(f.Fd()), o.MaxHeld); err == nil {
			break
		}
		dl.stopR()
		if try == 4 {
			return nil, fmt.Errorf("%w: binding a queue in %s: %w", ErrDelay, ns, err)
		}
	}
	go dl.release()
	for _, r := range rules {
		rule := append(append([]string{r.Chain}, r.Match...), "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(dl.queue)), "--queue-bypass")
		if out, err := run("ip", append([]string{"netns", "exec", ns, iptables(), "-I"}, rule...)...); err != nil {
			_ = dl.Stop()
			return nil, fmt.Errorf("%w: iptables -I %s: %w: %s", ErrDelay, strings.Join(rule, " "), err, out)
		}
		dl.rules = append(dl.rules, rule)
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = dl.Stop()
		case <-dl.done:
		}
	}()
	return dl, nil
}

// open binds the queue on a netlink socket made in the namespace (fd) and
// starts reading packet ids into the holding line.
func (dl *Delayer) open(ctx context.Context, nsfd, maxHeld int) error {
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:   nsfd,
		NfQueue: dl.queue,
		// A little longer than ours: the holding line overflows first,
		// where it is counted.
		MaxQueueLen:  uint32(maxHeld + 64),
		Copymode:     nfqueue.NfQnlCopyMeta, // the id is all we need
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
		AfFamily:     unix.AF_INET,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return err
	}
	// A burst larger than the socket buffer must not end the reader
	// (ENOBUFS); the kernel fails such packets open.
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	hook := func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		p := heldPacket{id: *a.PacketID, due: time.Now().Add(dl.d)}
		if dl.flushing.Load() {
			dl.verdict(p.id)
			return 0
		}
		select {
		case dl.held <- p:
		default:
			dl.overflow.Add(1)
			dl.verdict(p.id)
		}
		return 0
	}
	onErr := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.As(err, &op) && (op.Timeout() || op.Temporary()) {
			return 0
		}
		if errors.Is(err, unix.ENOBUFS) {
			return 0
		}
		return 1
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, onErr); err != nil {
		_ = nf.Close()
		return err
	}
	dl.nf = nf
	return nil
}

// release gives each held packet its verdict when it is due, in arrival
// order (every packet waits the same d, so order is kept), and what is
// held at once when flush is closed.
func (dl *Delayer) release() {
	defer close(dl.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case p := <-dl.held:
			if wait := time.Until(p.due); wait > 0 && !dl.flushing.Load() {
				t.Reset(wait)
				select {
				case <-t.C:
				case <-dl.flush:
				}
			}
			dl.delayed.Add(1)
			dl.verdict(p.id)
		case <-dl.flush:
			dl.drain()
			return
		}
	}
}

// drain accepts every packet in the holding line at once.
func (dl *Delayer) drain() {
	for {
		select {
		case p := <-dl.held:
			dl.delayed.Add(1)
			dl.verdict(p.id)
		default:
			return
		}
	}
}

func (dl *Delayer) verdict(id uint32) {
	if err := dl.nf.SetVerdict(id, nfqueue.NfAccept); err != nil {
		dl.errs.Add(1)
	}
}

// Stats returns the counts so far.
func (dl *Delayer) Stats() DelayStats {
	return DelayStats{Delayed: dl.delayed.Load(), Overflow: dl.overflow.Load(), Errors: dl.errs.Load()}
}

// Stop removes the rules, lets every held packet through at once, waits
// (up to 2 s) until the kernel holds none for the queue, and closes the
// socket. It is safe to call more than once and from several goroutines.
func (dl *Delayer) Stop() error {
	dl.stopOnce.Do(func() {
		var errs []error
		for _, rule := range dl.rules {
			if out, err := run("ip", append([]string{"netns", "exec", dl.ns, iptables(), "-D"}, rule...)...); err != nil {
				errs = append(errs, fmt.Errorf("%w: iptables -D %s: %w: %s", ErrDelay, strings.Join(rule, " "), err, out))
			}
		}
		// From now on the hook accepts at once, and what is held goes
		// now: closing the queue with packets held would drop them.
		dl.flushing.Store(true)
		close(dl.flush)
		<-dl.done
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			dl.drain() // a packet the hook queued just before the flag
			if n, err := dl.kernelHeld(); err != nil || n == 0 || time.Now().After(deadline) {
				break
			}
		}
		dl.stopR()
		if err := dl.nf.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%w: closing the queue: %w", ErrDelay, err))
		}
		dl.stopErr = errors.Join(errs...)
	})
	return dl.stopErr
}

// kernelHeld reads queue_total for the queue from the namespace's
// /proc/net/netfilter/nfnetlink_queue (the reading thread's namespace:
// thread-self, not self, as Do joins one thread only).
func (dl *Delayer) kernelHeld() (n int, err error) {
	err = Do(dl.ns, func() error {
		f, err := os.Open("/proc/thread-self/net/netfilter/nfnetlink_queue")
		if err != nil {
			return err
		}
		defer f.Close()
		// Fields: queue number, portid, queue_total, copy mode, copy
		// range, queue_dropped, user_dropped, id sequence, 1.
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 3 && fs[0] == strconv.Itoa(int(dl.queue)) {
				n, err = strconv.Atoi(fs[2])
				return err
			}
		}
		return sc.Err()
	})
	return n, err
}
