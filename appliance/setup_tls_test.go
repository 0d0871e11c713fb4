package appliance_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tether/appliance"
	"tether/appliance/setup"
	"tether/internal/testenv"
)

// Issue 12 item 9: the fingerprint the serial console prints is the one the
// setup page's TLS handshake presents; it survives a restart (the
// certificate is kept in the store); plain HTTP on the port is a 308 to
// https://. The whole composition root runs (DefaultExtras), no hub needed.
func TestSetupPageCertificateOnConsole(t *testing.T) {
	data := filepath.Join(t.TempDir(), "tetherd.db")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()

	fpLine := regexp.MustCompile(`setup page certificate SHA-256 ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})`)
	run := func() (printed, presented string) {
		cfg := testConfig(t, "http://127.0.0.1:1", data)
		cfg.SetupAddr, cfg.Console = addr, "-"
		serial := &testenv.SyncBuffer{}
		inR, inW := io.Pipe()
		a, err := appliance.New(cfg, appliance.Deps{Logger: slog.New(slog.DiscardHandler), Extras: appliance.DefaultExtras(cfg, inR, serial)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		defer func() {
			cancel()
			inW.Close()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("appliance did not stop")
			}
		}()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m := fpLine.FindStringSubmatch(serial.String()); m != nil {
				printed = m[1]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the console never printed the certificate line:\n%s", serial.String())
			}
		}
		if !strings.Contains(serial.String(), "setup page https://"+addr+"/") {
			t.Errorf("the console does not print the page's address:\n%s", serial.String())
		}
		// The `setup` command prints it again.
		fmt.Fprintln(inW, "setup")
		for deadline := time.Now().Add(10 * time.Second); len(fpLine.FindAllString(serial.String(), -1)) < 2; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("`setup` did not print the certificate line:\n%s", serial.String())
			}
		}
		var tc *tls.Conn
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			tc, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // compared by fingerprint below
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		presented = setup.Fingerprint(tc.ConnectionState().PeerCertificates[0].Raw)
		tc.Close()

		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /api/state HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+addr+"/api/state" {
			t.Errorf("plain HTTP: %d %q, want 308 to https://%s/api/state", resp.StatusCode, resp.Header.Get("Location"), addr)
		}
		return printed, presented
	}
	printed, presented := run()
	if printed != presented {
		t.Fatalf("console prints %s, the handshake presents %s", printed, presented)
	}
	again, _ := run()
	if again != printed {
		t.Fatalf("the certificate changed across a restart: %s, then %s", printed, again)
	}
}
