package appliance

import (
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's sd_notify protocol (sd_notify(3)): datagrams to
// $NOTIFY_SOCKET. Without systemd every call is a no-op.
type notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // from $WATCHDOG_USEC; 0 = none
}

func newNotifier() *notifier {
	n := &notifier{}
	if p := os.Getenv("NOTIFY_SOCKET"); p != "" {
		if p[0] == '@' {
			p = "\x00" + p[1:] // abstract socket
		}
		n.addr = &net.UnixAddr{Name: p, Net: "unixgram"}
	}
	if us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	return n
}

func (n *notifier) send(state string) {
	if n.addr == nil {
		return
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

func (n *notifier) Ready()                          { n.send("READY=1") }
func (n *notifier) Watchdog()                       { n.send("WATCHDOG=1") }
func (n *notifier) Status(s string)                 { n.send("STATUS=" + s) }
func (n *notifier) Stopping()                       { n.send("STOPPING=1") }
func (n *notifier) WatchdogInterval() time.Duration { return n.watchdog }
