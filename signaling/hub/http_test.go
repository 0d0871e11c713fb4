package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tether/signaling/hub"
	"tether/signaling/hub/auth"
	"tether/signaling/internal/siotest"
)

func get(t *testing.T, url, bearer string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestHubHTTP(t *testing.T) {
	e := startHub(t, "", nil)
	if _, err := e.store.AddAccount("op", "password-op", auth.RoleOperator, ""); err != nil {
		t.Fatal(err)
	}
	code := e.invite("r1", time.Hour)
	expired := e.invite("r1", time.Minute)
	e.clk.Advance(2 * time.Minute)

	t.Run("invite info", func(t *testing.T) {
		st, body, _ := get(t, e.h.URL()+"/api/invites/"+code, "")
		var m map[string]any
		json.Unmarshal(body, &m)
		if st != 200 || m["roomId"] != "r1" {
			t.Fatalf("%d %s", st, body)
		}
		for _, c := range []string{expired, "garbage", strings.Repeat("A", 500)} {
			if st, body, _ := get(t, e.h.URL()+"/api/invites/"+c, ""); st != 404 || !bytes.Contains(body, []byte("invite_invalid")) {
				t.Fatalf("%.10s: %d %s", c, st, body)
			}
		}
	})
	t.Run("qr", func(t *testing.T) {
		st, body, hdr := get(t, e.h.URL()+"/c/"+code+"/qr.png", "")
		if st != 200 || hdr.Get("Content-Type") != "image/png" {
			t.Fatalf("%d %s", st, hdr)
		}
		if img, err := png.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 512 {
			t.Fatalf("png: %v", err)
		}
		if st, _, _ := get(t, e.h.URL()+"/c/"+expired+"/qr.png", ""); st != 404 {
			t.Fatalf("expired qr: %d", st)
		}
	})
	t.Run("page", func(t *testing.T) {
		st, body, _ := get(t, e.h.URL()+"/c/"+code, "")
		if hub.WebBuilt() {
			if st != 200 || !bytes.Contains(body, []byte("<")) {
				t.Fatalf("page: %d", st)
			}
			return
		}
		if st != 503 || !bytes.Contains(body, []byte("make web")) {
			t.Fatalf("not-built page: %d %s", st, body)
		}
	})
	t.Run("fleet", func(t *testing.T) {
		if st, _, _ := get(t, e.h.URL()+"/api/fleet", ""); st != 401 {
			t.Fatalf("anonymous: %d", st)
		}
		if st, _, _ := get(t, e.h.URL()+"/api/fleet", e.token("c1")); st != 403 {
			t.Fatalf("counter token: %d", st)
		}
		_, m, _ := e.login("op", "password-op")
		tok, _ := m["token"].(string)
		d := e.device(e.token("c2"))
		d.ev.expect(t, "joined")
		// device:status arrives right after the join; wait for it.
		deadline := time.Now().Add(wait)
		for {
			st, body, _ := get(t, e.h.URL()+"/api/fleet", tok)
			var f struct {
				Counters []hub.FleetEntry
			}
			json.Unmarshal(body, &f)
			if st != 200 || len(f.Counters) != 2 {
				t.Fatalf("fleet: %d %s", st, body)
			}
			c2 := f.Counters[1]
			if c2.Online && c2.Transport == "websocket" && bytes.Contains(c2.Status, []byte(`"version":"test"`)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fleet entry %+v", c2)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		st, body, _ := get(t, e.h.URL()+"/metrics", "")
		for _, want := range []string{
			`tether_hub_connections{role="device",transport="websocket"} 1`,
			`tether_hub_logins_total{result="ok"}`,
			`tether_hub_events_total{event="session:verify"} 1`,
			`tether_hub_rooms 1`,
		} {
			if st != 200 || !bytes.Contains(body, []byte(want)) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
	t.Run("healthz", func(t *testing.T) {
		if st, body, _ := get(t, e.h.URL()+"/healthz", ""); st != 200 || string(body) != "ok\n" {
			t.Fatalf("%d %q", st, body)
		}
	})
}

// Keepalive answers, and an oversize message closes only its own socket.
func TestHubKeepaliveAndOversize(t *testing.T) {
	e := startHub(t, "", func(c *hub.Config) { c.MaxPayload = 16 << 10 })
	d := e.device(e.token("c1"))
	d.ev.expect(t, "joined")
	c := e.customer(e.invite("r1", time.Hour), "r1", "Ann")
	c.ev.expect(t, "joined 0")
	ctx := ctxT(t)
	args, err := c.EmitWithAck(ctx, "keepalive", map[string]any{"t": 1234})
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		OK         bool  `json:"ok"`
		T          int64 `json:"t"`
		ServerTime int64 `json:"serverTime"`
	}
	args.Decode(0, &k)
	if !k.OK || k.T != 1234 || time.Since(time.UnixMilli(k.ServerTime)).Abs() > time.Minute {
		t.Fatalf("keepalive %+v", k)
	}
	huge := offer("dev-c1")
	huge.Description.SDP = strings.Repeat("a=x\r\n", 8<<10)
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.EmitWithAck(sctx, "signal", huge); err == nil {
		t.Fatal("oversize signal acknowledged")
	}
	// The device did not get it and still works.
	if err := d.SendSignal(ctx, offer("nobody")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client().EmitWithAck(ctx, "keepalive", map[string]any{"t": 1}); err != nil {
		t.Fatalf("device after the oversize message: %v", err)
	}
	select {
	case ev := <-d.ev.ch:
		if strings.HasPrefix(ev, "signal") {
			t.Fatalf("device got %s", ev)
		}
	default:
	}
}

// The official client recovers its session through a transport loss: same
// socket id, and the hub keeps its userId and place.
func TestHubOfficialClientRecovery(t *testing.T) {
	e := startHub(t, "", nil)
	d := e.device(e.token("c1"))
	d.ev.expect(t, "joined")
	p := startProxy(t, e.h.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv := e.invite("r1", time.Hour)
	a := siotest.StartClient(t, p.url(), siotest.ClientOptions{Auth: map[string]any{"role": "customer", "invite": inv, "name": "Ann"},
		RoomID: "r1", NoVerify: true})
	j, err := a.Next(ctx, "joined")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		UserID string `json:"userId"`
	}
	json.Unmarshal(j.Ack, &r)
	first, err := a.Next(ctx, "connect")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.NextEvent(ctx, "queue:position"); err != nil { // a broadcast: the client now holds an offset
		t.Fatal(err)
	}
	p.cut()
	again, err := a.Next(ctx, "connect")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Recovered || again.ID != first.ID {
		t.Fatalf("reconnect %+v after %+v", again, first)
	}
	// client.js joins again on every connect: the same userId, position 0.
	j2, err := a.Next(ctx, "joined")
	if err != nil {
		t.Fatal(err)
	}
	var r2 struct {
		UserID   string `json:"userId"`
		Position int    `json:"position"`
	}
	json.Unmarshal(j2.Ack, &r2)
	if r2.UserID != r.UserID || r2.Position != 0 {
		t.Fatalf("after recovery %s, before %s", j2.Ack, j.Ack)
	}
	// The device still addresses the same customer.
	d.SendSignal(ctx, offer(r.UserID))
	if _, err := a.NextEvent(ctx, "signal"); err != nil {
		t.Fatal(err)
	}
}
