package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"
)

func testCert(t *testing.T) SetupCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return SetupCert{Cert: der, Key: kder}
}

func TestSetupCert(t *testing.T) {
	opts, clk := testOptions(t)
	backends(t, opts, func(t *testing.T, s *Store) {
		if _, err := s.SetupCert(); !errors.Is(err, ErrNoCert) {
			t.Fatalf("fresh store: %v, want ErrNoCert", err)
		}
		c := testCert(t)
		if err := s.SetSetupCert(c); err != nil {
			t.Fatal(err)
		}
		got, err := s.SetupCert()
		if err != nil || !bytes.Equal(got.Cert, c.Cert) || !bytes.Equal(got.Key, c.Key) || !got.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("SetupCert = %+v, %v", got, err)
		}
		// The setup password's reset leaves the certificate alone.
		if err := s.ClearSetupPassword(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetupCert(); err != nil {
			t.Fatalf("after the password reset: %v", err)
		}
		for _, bad := range []SetupCert{{}, {Cert: c.Cert, Key: []byte("x")}, {Cert: []byte("x"), Key: c.Key}, {Cert: make([]byte, maxCertLen+1), Key: c.Key}} {
			if err := s.SetSetupCert(bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("SetSetupCert(%d/%d bytes) = %v, want ErrInvalid", len(bad.Cert), len(bad.Key), err)
			}
		}
		// A damaged stored record reads as corrupt, not as a certificate.
		if err := s.update(func(tx kvTx) error {
			return tx.bucket(bucketSetup).put([]byte(keySetupCert), []byte(`{"v":1,"cert":"AAAA","key":"AAAA"}`))
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetupCert(); !errors.Is(err, ErrCorruptRecord) {
			t.Fatalf("damaged record: %v, want ErrCorruptRecord", err)
		}
	})
}
