package hub_test

import (
	"context"

	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"tether/signaling/hub"
	"tether/signaling/socketio"
	"time"
)

// rawDevice is the cheapest possible Socket.IO device client: one TCP
// connection, a hand-made websocket handshake, the CONNECT with the
// device's token, and nothing else held in memory, so the process's heap
// growth is the hub's cost per idle socket.
type rawDevice struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(addr, token string, verify bool) (*rawDevice, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("upgrade: %s", resp.Status)
	}
	d := &rawDevice{c: c, br: br}
	if m, err := d.read(); err != nil || !strings.HasPrefix(m, "0{") {
		c.Close()
		return nil, fmt.Errorf("open: %q %v", m, err)
	}
	auth, _ := json.Marshal(map[string]string{"role": "device", "token": token})
	if err := d.write("40" + string(auth)); err != nil {
		c.Close()
		return nil, err
	}
	if m, err := d.read(); err != nil || !strings.HasPrefix(m, "40{") {
		c.Close()
		return nil, fmt.Errorf("connect: %q %v", m, err)
	}
	if verify {
		arg, _ := json.Marshal(map[string]string{"token": token})
		if err := d.write(`420["session:verify",` + string(arg) + `]`); err != nil {
			c.Close()
			return nil, err
		}
		if m, err := d.read(); err != nil || !strings.HasPrefix(m, `430[{"ok":true`) {
			c.Close()
			return nil, fmt.Errorf("verify: %q %v", m, err)
		}
	}
	c.SetDeadline(time.Time{})
	return d, nil
}

// read returns one unmasked server text frame (RFC 6455 section 5.2).
func (d *rawDevice) read() (string, error) {
	var h [2]byte
	if _, err := io.ReadFull(d.br, h[:]); err != nil {
		return "", err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(d.br, l[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(d.br, l[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	b := make([]byte, n)
	_, err := io.ReadFull(d.br, b)
	return string(b), err
}

// write sends one masked client text frame.
func (d *rawDevice) write(s string) error {
	b := []byte{0x81}
	if len(s) < 126 {
		b = append(b, 0x80|byte(len(s)))
	} else {
		b = append(b, 0x80|126, byte(len(s)>>8), byte(len(s)))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := 0; i < len(s); i++ {
		b = append(b, s[i]^mask[i%4])
	}
	_, err := d.c.Write(b)
	return err
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// connectAll opens n device sockets at once and returns them and the time
// until the last CONNECT was answered.
func connectAll(b *testing.B, addr, token string, n int, verify bool) ([]*rawDevice, time.Duration) {
	out := make([]*rawDevice, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256) // the listen backlog, not the hub, is the limit otherwise
	start := time.Now()
	errs := make(chan error, n)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := dialRaw(addr, token, verify)
			if err != nil {
				errs <- err
				return
			}
			out[i] = d
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return out, el
}

// BenchmarkIdleDevices holds N connected device sockets (websocket,
// CONNECT with a token, optionally session:verify) and reports the process's heap+stack growth and
// goroutines per socket, and the time N devices take to connect at once
// (a reconnect storm after a hub restart, bounded to 256 in flight).
func BenchmarkIdleDevices(b *testing.B) {
	for _, n := range []int{500, 2000} {
		for _, verify := range []bool{false, true} {
			name := fmt.Sprint(n, "/connect")
			if verify {
				name = fmt.Sprint(n, "/connect+verify")
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					e := startHub(b, "", nil)
					tok := e.token("c1")
					before := heapInuse()
					g0 := runtime.NumGoroutine()
					devs, storm := connectAll(b, e.h.Addr().String(), tok, n, verify)
					after := heapInuse()
					g1 := runtime.NumGoroutine()
					b.ReportMetric(float64(after-before)/float64(n), "B/socket")
					b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/socket")
					b.ReportMetric(float64(storm.Milliseconds()), "ms/storm")
					for _, d := range devs {
						d.c.Close()
					}
					e.stop()
				}
			})
		}
	}
}

// BenchmarkSignalEndToEnd is the signalling rate through the hub: the
// device (signaling.Device over websocket) sends candidates to its
// customer (our Go client over websocket), which counts them.
func BenchmarkSignalEndToEnd(b *testing.B) {
	e := startHub(b, "", func(c *hub.Config) { c.RateLimit = -1 })
	d := e.device(e.token("c1"))
	if got := d.ev.nextB(b); !strings.HasPrefix(got, "joined") {
		b.Fatal(got)
	}
	c := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	if got := c.ev.nextB(b); !strings.HasPrefix(got, "joined 0") {
		b.Fatal(got)
	}
	got := make(chan struct{}, 1<<16)
	c.On("signal", func(socketio.Args, func(...any)) { got <- struct{}{} })
	s := candidate(c.id(), "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	const window = 256 // in flight, so the benchmark measures throughput
	sent, recv := 0, 0
	for recv < b.N {
		for sent < b.N && sent-recv < window {
			if err := d.SendSignal(ctx, s); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		select {
		case <-got:
			recv++
		case <-time.After(wait):
			b.Fatalf("received %d of %d", recv, sent)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signals/s")
}
