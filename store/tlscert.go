package store

import (
	"crypto/x509"
	"fmt"
	"time"
)

// SetupCert is the setup page's TLS certificate and key: made once on the
// device at first start (self-signed, ECDSA P-256) and kept here so its
// fingerprint, which the serial console prints, stays the same across
// reboots.
type SetupCert struct {
	Cert      []byte    // DER certificate
	Key       []byte    // PKCS #8 DER private key
	CreatedAt time.Time // set by SetSetupCert from the store's clock
}

type setupCertRecord struct {
	V         int       `json:"v"`
	Cert      []byte    `json:"cert"`
	Key       []byte    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
}

// maxCertLen bounds each DER blob (a P-256 certificate is ~500 bytes).
const maxCertLen = 16 << 10

func decodeSetupCert(key string, data []byte) (setupCertRecord, error) {
	var r setupCertRecord
	if err := decodeJSON(key, data, &r, func() int { return r.V }); err != nil {
		return setupCertRecord{}, err
	}
	if len(r.Cert) == 0 || len(r.Cert) > maxCertLen || len(r.Key) == 0 || len(r.Key) > maxCertLen {
		return setupCertRecord{}, corrupt(key, fmt.Errorf("certificate %d or key %d bytes out of 1..%d", len(r.Cert), len(r.Key), maxCertLen))
	}
	if _, err := x509.ParseCertificate(r.Cert); err != nil {
		return setupCertRecord{}, corrupt(key, err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(r.Key); err != nil {
		return setupCertRecord{}, corrupt(key, err)
	}
	return r, nil
}

// SetupCert returns the stored certificate; ErrNoCert if none was made yet.
// A damaged record is ErrCorruptRecord (the caller makes a new one).
func (s *Store) SetupCert() (SetupCert, error) {
	var out SetupCert
	err := s.view(func(tx kvTx) error {
		r, found, err := getRecord(tx, bucketSetup, keySetupCert, decodeSetupCert)
		if err != nil {
			return err
		}
		if !found {
			return ErrNoCert
		}
		out = SetupCert{Cert: r.Cert, Key: r.Key, CreatedAt: r.CreatedAt}
		return nil
	})
	return out, err
}

// SetSetupCert stores c, replacing any previous certificate.
func (s *Store) SetSetupCert(c SetupCert) error {
	rec := setupCertRecord{V: recordVersion, Cert: c.Cert, Key: c.Key, CreatedAt: s.now()}
	raw, err := encodeJSON(rec)
	if err != nil {
		return err
	}
	if _, err := decodeSetupCert(bucketSetup+"/"+keySetupCert, raw); err != nil {
		return fmt.Errorf("%w: setup certificate: %v", ErrInvalid, err)
	}
	return s.update(func(tx kvTx) error {
		return putRecord(tx, bucketSetup, keySetupCert, rec)
	})
}
