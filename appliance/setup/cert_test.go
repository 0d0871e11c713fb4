package setup

import (
	"errors"
	"net"
	"testing"
	"time"

	"tether/store"
)

// certStore is a CertStore with faults.
type certStore struct {
	have     store.SetupCert
	readErr  error
	writeErr error
	writes   int
}

func (c *certStore) SetupCert() (store.SetupCert, error) {
	if c.readErr != nil {
		return store.SetupCert{}, c.readErr
	}
	if c.have.Cert == nil {
		return store.SetupCert{}, store.ErrNoCert
	}
	return c.have, nil
}

func (c *certStore) SetSetupCert(sc store.SetupCert) error {
	c.writes++
	if c.writeErr != nil {
		return c.writeErr
	}
	c.have = sc
	return nil
}

func TestDeviceCert(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	ips := []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::7")}
	st := &certStore{}
	first, err := DeviceCert(st, "Counter-7.", ips, now)
	if err != nil || st.writes != 1 {
		t.Fatalf("first start: %v, %d writes", err, st.writes)
	}
	leaf := first.Leaf
	for _, name := range []string{"counter-7", "counter-7.local", "localhost", "192.0.2.7", "2001:db8::7", "127.0.0.1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("SAN %s: %v", name, err)
		}
	}
	if leaf.NotAfter.Before(now.Add(50 * 365 * 24 * time.Hour)) {
		t.Errorf("expires %v: a pinned device certificate must not lapse in service", leaf.NotAfter)
	}
	// Made once: a later start with other addresses keeps it.
	again, err := DeviceCert(st, "counter-7", nil, now.Add(time.Hour))
	if err != nil || st.writes != 1 || Fingerprint(again.Certificate[0]) != Fingerprint(first.Certificate[0]) {
		t.Fatalf("second start: %v, %d writes, fingerprint changed", err, st.writes)
	}
	// A damaged record: a new certificate, and an error that says so.
	st.have.Key = []byte("damaged")
	fresh, err := DeviceCert(st, "counter-7", nil, now)
	if err == nil || len(fresh.Certificate) == 0 || Fingerprint(fresh.Certificate[0]) == Fingerprint(first.Certificate[0]) {
		t.Fatalf("damaged record: %v", err)
	}
	// A store that cannot keep it: the page still gets a certificate.
	broken := &certStore{writeErr: errors.New("read-only file system")}
	c, err := DeviceCert(broken, "counter-7", nil, now)
	if len(c.Certificate) == 0 || err == nil {
		t.Fatalf("unwritable store: %d certificates, %v", len(c.Certificate), err)
	}
}
