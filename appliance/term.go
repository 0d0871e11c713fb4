package appliance

import (
	"crypto/x509"
	"fmt"
	"os"
)

func loadCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: ca-file: %v", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: ca-file %s holds no PEM certificate", ErrConfig, path)
	}
	return pool, nil
}
