package testenv

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// PinnedTLS accepts exactly the certificate whose SHA-256 fingerprint is
// fp, in the form the appliance's serial console prints it ("AB:CD:…";
// case and colons do not matter): a test trusts the setup page's
// self-signed certificate the way a technician does (issue 12 item 9).
func PinnedTLS(fp string) *tls.Config {
	want := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the fingerprint check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("testenv: no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if hex.EncodeToString(sum[:]) != want {
				return errors.New("testenv: certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}
}

// SetupFingerprint reads the setup page's certificate fingerprint from
// the console line the appliance prints at start ("setup page certificate
// SHA-256 AB:CD:…"), waiting up to 20 s for it.
func (d *Tetherd) SetupFingerprint() string {
	d.t.Helper()
	l := d.WaitConsole(0, 20*time.Second, "setup page certificate SHA-256")
	f := strings.Fields(l)
	return f[len(f)-1]
}
