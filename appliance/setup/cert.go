package setup

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"tether/store"
)

// CertStore keeps the page's certificate (*store.Store).
type CertStore interface {
	SetupCert() (store.SetupCert, error)
	SetSetupCert(store.SetupCert) error
}

// certValidity is long on purpose: the certificate is pinned by its
// fingerprint (printed on the serial console), not by a CA, and a device on
// a counter must not start failing in a year. RFC 5280 §4.1.2.5 allows
// 99991231235959Z for "no well-defined expiration date"; browsers ignore
// validity for a certificate the user accepted by fingerprint anyway.
const certValidity = 100 * 365 * 24 * time.Hour

// DeviceCert returns the page's certificate from st, making and storing a
// self-signed ECDSA P-256 one on first use (issue 12 item 9) with the SANs
// hostname, hostname.local, localhost and ips. It is made once and kept:
// its fingerprint must not change when DHCP hands out another address.
//
// A certificate is returned whenever one could be made: an unreadable
// stored one or a store that cannot keep the new one gives the new
// certificate and an error saying so (the page then works, but its
// fingerprint changes at the next start). Only a failure to make one
// returns no certificate.
func DeviceCert(st CertStore, hostname string, ips []net.IP, now time.Time) (tls.Certificate, error) {
	sc, err := st.SetupCert()
	if err == nil {
		c, perr := keyPair(sc)
		if perr == nil {
			return c, nil
		}
		err = perr
	}
	var why error
	if !errors.Is(err, store.ErrNoCert) {
		why = fmt.Errorf("setup: stored certificate unusable, made a new one: %w", err)
	}
	sc, err = newDeviceCert(hostname, ips, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	c, err := keyPair(sc)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("setup: new certificate: %w", err)
	}
	if err := st.SetSetupCert(sc); err != nil {
		why = errors.Join(why, fmt.Errorf("setup: could not keep the new certificate (its fingerprint changes at the next start): %w", err))
	}
	return c, why
}

func keyPair(sc store.SetupCert) (tls.Certificate, error) {
	return tls.X509KeyPair(pemOf("CERTIFICATE", sc.Cert), pemOf("PRIVATE KEY", sc.Key))
}

func newDeviceCert(hostname string, ips []net.IP, now time.Time) (store.SetupCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.SetupCert{}, fmt.Errorf("setup: certificate key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	names := []string{"localhost"}
	if h := strings.ToLower(strings.TrimSuffix(hostname, ".")); h != "" && h != "localhost" {
		names = append([]string{h, h + ".local"}, names...)
	}
	cn := names[0]
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Tether appliance setup page"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, ips...),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return store.SetupCert{}, fmt.Errorf("setup: create certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return store.SetupCert{}, fmt.Errorf("setup: certificate key: %w", err)
	}
	return store.SetupCert{Cert: der, Key: kder}, nil
}

// Fingerprint is the SHA-256 of a DER certificate as browsers show it:
// upper-case hex bytes separated by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// InterfaceIPs are the machine's unicast addresses (for the certificate's
// SANs); errors give none.
func InterfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsMulticast() {
			out = append(out, n.IP)
		}
	}
	return out
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
