package hub_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tether/signaling/hub"
)

// TestHubStoreBusy: with every store admission slot taken (as in a
// reconnect storm, issue 17), a device's CONNECT and its session:verify
// are answered "busy" with a retry hint, never "internal", and the same
// device gets in once the store has room again.
func TestHubStoreBusy(t *testing.T) {
	e := startHub(t, "", nil)
	tok := e.token("c1")
	addr := e.h.Addr().String()
	auth := map[string]string{"role": "device", "token": tok}

	release := hub.HoldStoreGate(e.h)
	d, err := dialWS(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.c.Close()
	m, err := d.connect(auth)
	if err != nil {
		t.Fatal(err)
	}
	var ce struct {
		Message string
		Data    struct{ RetryAfterMs int64 }
	}
	if !strings.HasPrefix(m, "44") || json.Unmarshal([]byte(m[2:]), &ce) != nil {
		t.Fatalf("CONNECT with the store gate full: %q, want CONNECT_ERROR", m)
	}
	if ce.Message != "busy" || ce.Data.RetryAfterMs < 1000 || ce.Data.RetryAfterMs > 3000 {
		t.Fatalf("CONNECT_ERROR %q: want busy with retryAfterMs 1000–3000", m)
	}
	release()

	// The same socket may CONNECT again (socket.io's client does after
	// connect_error); this time the store answers.
	if m, err = d.connect(auth); err != nil || !strings.HasPrefix(m, "40{") {
		t.Fatalf("CONNECT after the storm: %q %v", m, err)
	}
	release = hub.HoldStoreGate(e.h)
	defer func() { release() }()
	arg, _ := json.Marshal(map[string]string{"token": tok})
	if err := d.write(`420["session:verify",` + string(arg) + `]`); err != nil {
		t.Fatal(err)
	}
	m, err = d.readUntil("430")
	if err != nil {
		t.Fatal(err)
	}
	var rep []struct {
		OK           bool
		Error        string
		RetryAfterMs int64
	}
	if json.Unmarshal([]byte(m[3:]), &rep) != nil || len(rep) != 1 || rep[0].OK || rep[0].Error != "busy" || rep[0].RetryAfterMs < 1000 {
		t.Fatalf("session:verify with the store gate full: %q, want busy with retryAfterMs", m)
	}
	release()
	release = func() {}
	if err := d.write(`421["session:verify",` + string(arg) + `]`); err != nil {
		t.Fatal(err)
	}
	d.c.SetReadDeadline(time.Now().Add(wait))
	if m, err = d.readUntil("431"); err != nil || !strings.HasPrefix(m, `431[{"ok":true`) {
		t.Fatalf("session:verify after the storm: %q %v", m, err)
	}
}
