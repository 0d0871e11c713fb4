package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"tether/internal/testenv"
	"tether/signaling/official"
)

// Idle sockets: open files are capped at 20,000 per process here, so one
// server process holds at most ~19k sockets; the clients are spread over
// child processes of up to perChild each (tether-bench re-executed with
// -idle-child), and the per-socket cost is the server's RSS growth over
// the sockets it holds, from which a node's capacity is projected.
const (
	perChild  = 5000
	fdCeiling = 20000
)

// IdleChild is the child's side: n customer sockets to url (Engine.IO 4
// over WebSocket, Socket.IO CONNECT with auth), opened conc at a time,
// answering pings, held until stdin closes. It prints "connected N" and
// finally "done OK FAILED".
func IdleChild(url, auth string, n, conc int) error {
	ws := "ws" + strings.TrimPrefix(url, "http") + "/socket.io/?EIO=4&transport=websocket"
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var conns sync.Map
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := idleOpen(&d, ws, auth)
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			ok.Add(1)
			conns.Store(c, true)
			// The read loop answers Engine.IO pings (2 → 3) and ends with
			// the connection.
			go func() {
				defer c.Close()
				for {
					_, m, err := c.ReadMessage()
					if err != nil {
						return
					}
					if string(m) == "2" {
						_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
					}
				}
			}()
		}()
	}
	wg.Wait()
	if e, _ := firstErr.Load().(string); e != "" {
		fmt.Fprintf(os.Stderr, "idle child: first error: %s\n", e)
	}
	fmt.Printf("done %d %d\n", ok.Load(), failed.Load())
	_, _ = io.Copy(io.Discard, os.Stdin)
	conns.Range(func(k, _ any) bool { _ = k.(*websocket.Conn).Close(); return true })
	return nil
}

// idleOpen does the Engine.IO open and the Socket.IO CONNECT.
func idleOpen(d *websocket.Dialer, url, auth string) (*websocket.Conn, error) {
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || len(m) == 0 || m[0] != '0' {
		c.Close()
		return nil, fmt.Errorf("engine.io open: %q %v", m, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40"+auth)); err != nil {
		c.Close()
		return nil, err
	}
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, err
		}
		switch s := string(m); {
		case s == "2":
			_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
		case strings.HasPrefix(s, "40"):
			_ = c.SetReadDeadline(time.Time{})
			return c, nil
		case strings.HasPrefix(s, "44"):
			c.Close()
			return nil, fmt.Errorf("connect refused: %s", s)
		}
	}
}

// idleRun opens n sockets to url from children in namespace ns ("" for
// the host) and returns the server's RSS (MiB) before and after, the
// sockets held and a stop func that closes them.
func idleRun(t *tb, ns, url, auth string, n, serverPid int) (before, after float64, held int, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	before = testenv.ProcStatusMiB(serverPid, "VmRSS:")
	var procs []*exec.Cmd
	var stdins []io.WriteCloser
	stop = func() {
		for _, in := range stdins {
			_ = in.Close()
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
				<-done
			}
		}
	}
	t.Cleanup(stop)
	type res struct{ ok, failed int }
	results := make(chan res, n/perChild+1)
	for left := n; left > 0; left -= perChild {
		k := min(left, perChild)
		args := []string{exe, "-idle-child", url, "-idle-auth", auth, "-idle-n", strconv.Itoa(k)}
		if ns != "" {
			args = append([]string{"ip", "netns", "exec", ns}, args...)
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return before, 0, 0, stop, err
		}
		procs, stdins = append(procs, cmd), append(stdins, in)
		go func() {
			// The child holds its sockets after "done" until its stdin
			// closes: report at that line, then drain to EOF.
			sc := bufio.NewScanner(out)
			r := res{failed: k}
			sent := false
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "done" && !sent {
					r.ok, _ = strconv.Atoi(f[1])
					r.failed, _ = strconv.Atoi(f[2])
					results <- r
					sent = true
				}
			}
			if !sent {
				results <- r
			}
		}()
		// Wait for this child before the next: the server's accept
		// queue and this box's two cores set the pace.
		select {
		case r := <-results:
			held += r.ok
			if r.failed > 0 {
				t.printf("idle sockets: %d of %d failed in one child\n", r.failed, k)
			}
		case <-time.After(10 * time.Minute):
			return before, 0, held, stop, fmt.Errorf("idle child did not finish")
		}
	}
	// Let the server settle (GC, buffers) before reading its RSS.
	time.Sleep(5 * time.Second)
	after = testenv.ProcStatusMiB(serverPid, "VmRSS:")
	return before, after, held, stop, nil
}

// measureIdle: the hub and, as the baseline, the official Node socket.io
// server, each holding n idle customer sockets.
func (w *world) measureIdle(rep *Report, o Options) {
	n := fdCeiling - 1000
	if o.Short {
		n = 1000
	}
	auth, _ := json.Marshal(map[string]string{"role": "customer", "invite": w.invite, "name": "idle"})
	b, a, held, stop, err := idleRun(w.t, w.topo.B, w.hubURL, string(auth), n, w.hub.pid())
	stop()
	if err != nil || held == 0 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("hub idle sockets: held %d: %v", held, err))
		return
	}
	hubKiB := (a - b) * 1024 / float64(held)
	w.t.printf("hub: %d idle sockets, RSS %.1f → %.1f MiB, %.1f KiB per socket\n", held, b, a, hubKiB)

	var nodeKiB float64
	var nheld int
	err = step(func() {
		srv := official.StartServer(w.t, official.ServerOptions{})
		nauth, _ := json.Marshal(map[string]string{"role": "customer", "invite": official.Invite, "name": "idle"})
		nb, na, h, nstop, e := idleRun(w.t, "", srv.URL(), string(nauth), n, srv.Pid())
		nstop()
		srv.Kill()
		if e != nil || h == 0 {
			w.t.Fatalf("held %d: %v", h, e)
		}
		nheld, nodeKiB = h, (na-nb)*1024/float64(h)
		w.t.printf("official server: %d idle sockets, RSS %.1f → %.1f MiB, %.1f KiB per socket\n", h, nb, na, nodeKiB)
	})
	if err != nil {
		rep.Errors = append(rep.Errors, "official server idle sockets: "+err.Error())
	}
	var base *Stat
	if nheld > 0 {
		base = stat([]float64{nodeKiB})
	}
	rep.add(Row{Metric: fmt.Sprintf("hub RSS per idle socket (%d sockets in one process)", held), Unit: "KiB", Claim: "–",
		Baseline: base, BaseName: fmt.Sprintf("official socket.io 4.8.4 server, %d sockets", nheld), Tether: stat([]float64{hubKiB})})
	// Projected from the per-socket cost: the open-file cap, not memory,
	// bounds one process here.
	if hubKiB > 0 {
		row := Row{Metric: "idle sockets per GiB of hub RSS (projected)", Unit: "sockets", Claim: "–", Tether: stat([]float64{1024 * 1024 / hubKiB})}
		if nodeKiB > 0 {
			row.Baseline = stat([]float64{1024 * 1024 / nodeKiB})
			row.BaseName = "official socket.io server"
		}
		rep.add(row)
	}
}
