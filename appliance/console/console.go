package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"tether/appliance/health"
	"tether/store"
)

// Defaults for Config fields left zero.
const (
	// DefaultInterval is the "every 30 s" status line.
	DefaultInterval = 30 * time.Second
	// DefaultLogLines is how many events `log` prints without an argument.
	DefaultLogLines = 20
	// MaxLogLines bounds `log N`.
	MaxLogLines = 500
	// maxLine bounds one typed command; longer input is discarded.
	maxLine = 256
)

// Health is what the console reads from the health tracker
// (*health.Tracker satisfies it).
type Health interface {
	Subscribe() *health.Subscription
	Snapshot() health.Snapshot
}

// EventLog is the store's event log (*store.Store satisfies it).
type EventLog interface {
	Events(n int) ([]store.Event, error)
}

// Interface is one network interface as `net` prints it.
type Interface struct {
	Name  string
	Up    bool
	MAC   string
	Addrs []string // CIDR notation, e.g. "192.0.2.7/24"
}

// Config configures a Console. Health and Out are required.
type Config struct {
	// Health is subscribed to for status lines.
	Health Health
	// Out receives every line ("\r\n" endings, so a raw serial terminal
	// shows them right). Write errors are logged once and otherwise ignored:
	// an unplugged console must not take the appliance down.
	Out io.Writer
	// In, if set, is read for commands, one per line. When ctx ends Run
	// unblocks the reader with SetReadDeadline if In has it (an *os.File
	// tty or pipe), else by closing In if it is an io.Closer (io.Pipe);
	// any other reader must return by itself (EOF) for Run to return.
	In io.Reader
	// Events serves `log`; nil means the command says "no event log".
	Events EventLog
	// Net lists interfaces for `net`; nil means SystemInterfaces.
	Net func() ([]Interface, error)
	// Restart is called by `restart` with the reason "console"; nil means
	// the command says restart is not available. It runs on Run's goroutine
	// and must only post the request (the supervisor ends this Run).
	Restart func(reason string)
	// LEDs, if set, renders the front-panel LEDs appended to each status
	// line (the sim board's gpio.Terminal.String).
	LEDs func() string
	// Setup, if set, returns lines about the setup page (its URLs and the
	// SHA-256 fingerprint of its certificate, which a technician compares
	// with what the browser shows). They are written after the first
	// status line and by the `setup` command.
	Setup func() []string
	// Interval between unchanged status lines; 0 means DefaultInterval.
	Interval time.Duration
	// Clock drives the interval and timestamps; nil means the real clock.
	Clock clockwork.Clock
	// Logger; nil means slog.Default(). component=console is added.
	Logger *slog.Logger
}

// Console writes status lines and runs commands. Run owns the writer: every
// line, whether a status line, a command's answer or an Announce, is
// written by Run's goroutine, so lines never interleave.
type Console struct {
	cfg Config
	clk clockwork.Clock
	log *slog.Logger

	// mu guards pending; wake has one slot and says pending grew.
	mu      sync.Mutex
	pending []string
	wake    chan struct{}

	// Owned by Run:
	writeErr string // last write error logged, to log each distinct one once
}

// New validates cfg and returns a Console; nothing runs until Run.
func New(cfg Config) (*Console, error) {
	if cfg.Health == nil {
		return nil, ErrNoHealth
	}
	if cfg.Out == nil {
		return nil, ErrNoOutput
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("%w: %v", ErrBadInterval, cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Net == nil {
		cfg.Net = SystemInterfaces
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Console{
		cfg:  cfg,
		clk:  cfg.Clock,
		log:  cfg.Logger.With("component", "console"),
		wake: make(chan struct{}, 1),
	}, nil
}

// PasswordResetLine is printed by PasswordReset: the console
// confirmation of the 10 s button hold.
const PasswordResetLine = "button held 10 s: setup password cleared; open the setup page to choose a new one"

// PasswordReset prints the confirmation line of the 10 s button hold. It
// never blocks.
func (c *Console) PasswordReset() { c.Announce(PasswordResetLine) }

// Announce queues one line to be written by Run (prefixed with the time
// like every other line). It never blocks; lines queued before Run starts
// are written when it does.
func (c *Console) Announce(line string) {
	c.mu.Lock()
	if len(c.pending) < 64 { // bounded: a storm of announcements drops the excess
		c.pending = append(c.pending, sanitize(line))
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run writes status lines and serves commands until ctx ends; it returns
// nil then, after its reader goroutine has returned.
func (c *Console) Run(ctx context.Context) error {
	sub := c.cfg.Health.Subscribe()
	defer sub.Close()
	timer := c.clk.NewTimer(c.cfg.Interval)
	defer timer.Stop()
	var lastSeq uint64
	status := func(s health.Snapshot) {
		// Re-arm before writing, so whoever sees the line (the tests) can
		// rely on the next periodic line being scheduled from now.
		timer.Reset(c.cfg.Interval)
		lastSeq = s.Seq
		s.Uptime = c.clk.Since(s.Started)
		c.writeLine(c.statusLine(s))
	}
	// The first line is always the current status (Subscribe delivers it
	// at once), before any command's answer.
	status(<-sub.C())
	c.setupLines()

	cmds := make(chan string)
	var wg sync.WaitGroup
	if c.cfg.In != nil {
		readerDone := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(readerDone)
			c.readLines(ctx, cmds)
		}()
		// Unblock the reader when ctx ends.
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				c.unblockReader()
			case <-readerDone:
			}
		}()
	}
	defer wg.Wait()

	for {
		select {
		case <-ctx.Done():
			return nil
		case s, ok := <-sub.C():
			if !ok {
				return nil
			}
			if s.Seq != lastSeq {
				status(s)
			}
		case <-timer.Chan():
			status(c.cfg.Health.Snapshot())
		case line := <-cmds:
			c.command(line)
		case <-c.wake:
			c.flushPending()
		}
	}
}

func (c *Console) flushPending() {
	c.mu.Lock()
	lines := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, l := range lines {
		c.writeLine(l)
	}
}

// readLines reads commands until EOF, an error or ctx's end. Over-long
// lines are discarded with an error line rather than executed in part.
func (c *Console) readLines(ctx context.Context, cmds chan<- string) {
	var (
		sp  lineSplitter
		buf [256]byte
	)
	for {
		n, err := c.cfg.In.Read(buf[:])
		for _, b := range buf[:n] {
			line, ok := sp.feed(b)
			if !ok {
				continue
			}
			select {
			case cmds <- line:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				c.log.Warn("console input ended", "err", err)
			}
			return
		}
	}
}

// tooLongLine is what lineSplitter yields for a line over maxLine bytes.
const tooLongLine = "\x00toolong"

// lineSplitter turns console input into command lines. A serial terminal
// in raw mode sends CR for Enter (screen, minicom), a tty in canonical mode
// sends LF, some send CR LF: each of CR, LF and CR LF ends one line.
// Backspace and DEL erase the last byte, for terminals without local
// editing. The zero value is ready.
type lineSplitter struct {
	buf     []byte
	tooLong bool
	lastCR  bool
}

// feed adds one input byte and returns a completed line, if any.
func (sp *lineSplitter) feed(b byte) (string, bool) {
	wasCR := sp.lastCR
	sp.lastCR = b == '\r'
	switch b {
	case '\n':
		if wasCR {
			return "", false // the LF of a CR LF
		}
		fallthrough
	case '\r':
		line := string(sp.buf)
		if sp.tooLong {
			line = tooLongLine
		}
		sp.buf, sp.tooLong = sp.buf[:0], false
		return line, true
	case 0:
		// Line noise (and Ctrl-@); dropping it also keeps tooLongLine
		// from ever being typed.
		return "", false
	case 0x08, 0x7f:
		if len(sp.buf) > 0 {
			sp.buf = sp.buf[:len(sp.buf)-1]
		}
		return "", false
	}
	if len(sp.buf) >= maxLine {
		sp.tooLong = true
		return "", false
	}
	sp.buf = append(sp.buf, b)
	return "", false
}

func (c *Console) unblockReader() {
	type deadliner interface{ SetReadDeadline(time.Time) error }
	if d, ok := c.cfg.In.(deadliner); ok {
		// A past deadline makes a pending Read return os.ErrDeadlineExceeded.
		if err := d.SetReadDeadline(time.Unix(1, 0)); err == nil {
			return
		}
	}
	if cl, ok := c.cfg.In.(io.Closer); ok {
		_ = cl.Close()
	}
}

// statusLine is the timestamped Line, plus the LEDs when rendered.
func (c *Console) statusLine(s health.Snapshot) string {
	line := sanitize(s.Line())
	if c.cfg.LEDs != nil {
		line += " | " + c.cfg.LEDs()
	}
	return line
}

// writeLine writes "[hh:mm:ss] line\r\n" (UTC). Called only from Run.
func (c *Console) writeLine(line string) {
	ts := c.clk.Now().UTC().Format("15:04:05")
	_, err := io.WriteString(c.cfg.Out, "["+ts+"] "+line+"\r\n")
	if err == nil {
		c.writeErr = ""
		return
	}
	if msg := err.Error(); msg != c.writeErr {
		c.writeErr = msg
		c.log.Warn("console write failed", "err", err)
	}
}

// command runs one typed line. Called only from Run.
func (c *Console) command(line string) {
	if line == tooLongLine {
		c.writeLine(fmt.Sprintf("error: command longer than %d bytes ignored", maxLine))
		return
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return
	}
	switch name, args := strings.ToLower(fields[0]), fields[1:]; name {
	case "status":
		s := c.cfg.Health.Snapshot()
		c.writeLine(c.statusLine(s))
		c.writeLine(fmt.Sprintf("state %s since %s: %s", s.Overall, s.OverallSince.UTC().Format(time.RFC3339), s.Reason))
		c.writeLine(fmt.Sprintf("network %s %s | media %s", s.Network.State, s.Network.Detail, mediaLine(s.Media)))
	case "log":
		c.cmdLog(args)
	case "net":
		c.cmdNet()
	case "setup":
		if c.cfg.Setup == nil {
			c.writeLine("error: no setup page")
			return
		}
		c.setupLines()
	case "restart":
		if c.cfg.Restart == nil {
			c.writeLine("error: restart is not available")
			return
		}
		c.writeLine("restarting on request from the console")
		c.log.Info("restart requested on the console")
		c.cfg.Restart("console")
	case "help", "?":
		for _, l := range helpLines {
			c.writeLine(l)
		}
	default:
		c.writeLine("error: unknown command \"" + sanitize(clipCmd(fields[0])) + "\" (type help)")
	}
}

var helpLines = []string{
	"commands:",
	"  status      the status line now, with state, network and media",
	"  log [N]     the last N state-change events (default 20)",
	"  net         network interfaces and addresses",
	"  setup       the setup page's addresses and certificate fingerprint",
	"  restart     restart tetherd cleanly",
	"  help        this list",
}

func (c *Console) setupLines() {
	if c.cfg.Setup == nil {
		return
	}
	for _, l := range c.cfg.Setup() {
		c.writeLine(sanitize(l))
	}
}

func (c *Console) cmdLog(args []string) {
	n := DefaultLogLines
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > MaxLogLines {
			c.writeLine(fmt.Sprintf("error: log takes a count from 1 to %d", MaxLogLines))
			return
		}
		n = v
	}
	if c.cfg.Events == nil {
		c.writeLine("error: no event log")
		return
	}
	evs, err := c.cfg.Events.Events(n)
	if err != nil {
		// Damaged records are skipped by the store and the rest returned.
		c.writeLine("warning: " + sanitize(err.Error()))
	}
	if len(evs) == 0 {
		c.writeLine("no events")
		return
	}
	for _, e := range evs {
		c.writeLine(FormatEvent(e))
	}
}

// FormatEvent renders one event as the `log` command prints it, e.g.
// "#12 2026-11-26T00:12:03Z socket connecting -> connected (websocket)".
func FormatEvent(e store.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Component)
	switch {
	case e.From != "" && e.To != "":
		fmt.Fprintf(&b, " %s -> %s", e.From, e.To)
	case e.To != "":
		b.WriteString(" " + e.To)
	case e.From != "":
		b.WriteString(" " + e.From + " ->")
	}
	if e.Detail != "" {
		b.WriteString(" (" + e.Detail + ")")
	}
	return sanitize(b.String())
}

func (c *Console) cmdNet() {
	ifs, err := c.cfg.Net()
	if err != nil {
		c.writeLine("error: " + sanitize(err.Error()))
		return
	}
	if len(ifs) == 0 {
		c.writeLine("no network interfaces")
		return
	}
	for _, i := range ifs {
		c.writeLine(FormatInterface(i))
	}
}

// FormatInterface renders one interface as `net` prints it, e.g.
// "eth0 up b8:27:eb:00:00:01 192.0.2.7/24 fe80::1/64".
func FormatInterface(i Interface) string {
	state := "down"
	if i.Up {
		state = "up"
	}
	parts := []string{i.Name, state}
	if i.MAC != "" {
		parts = append(parts, i.MAC)
	}
	if len(i.Addrs) == 0 {
		parts = append(parts, "(no address)")
	}
	parts = append(parts, i.Addrs...)
	return sanitize(strings.Join(parts, " "))
}

// sanitize keeps one line one line: control characters (a newline in an
// error, an ANSI escape in a hostile SSID) are replaced, except the ESC of
// the LED renderer's colours is never passed here.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func clipCmd(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// mediaLine names each media device with its state, then the encoder:
// "camera ok mic missing encoder software".
func mediaLine(m health.MediaStatus) string {
	var parts []string
	for _, d := range m.Devices {
		parts = append(parts, d.Name+" "+d.State.String())
	}
	return strings.Join(append(parts, "encoder "+m.EncoderState()), " ")
}
