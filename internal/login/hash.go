package login

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrBadHash is a stored hash that is malformed or asks for parameters out
// of bounds.
var ErrBadHash = errors.New("login: bad stored hash")

// Params are argon2id cost parameters (RFC 9106 §3.1). Stored hashes keep
// the parameters they were made with, so raising them affects new passwords
// only.
type Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams follow the OWASP password storage minimum for argon2id
// (19 MiB, 2 passes, 1 lane): the memory fits a Pi Zero 2 W with 512 MB,
// one check costs ~70 ms on an amd64 build machine (a Pi is slower), and
// the Gate bounds how many run at once.
var DefaultParams = Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// Check bounds the parameters, for our own options and for stored hashes: a
// damaged or hostile record must not ask argon2 for gigabytes of memory or
// hours of work.
func (p Params) Check() error {
	switch {
	case p.Time < 1 || p.Time > 16:
		return fmt.Errorf("argon2 time %d out of 1..16", p.Time)
	case p.MemoryKiB < 8 || p.MemoryKiB > 256*1024:
		return fmt.Errorf("argon2 memory %d KiB out of 8..262144", p.MemoryKiB)
	case p.Threads < 1 || p.Threads > 16:
		return fmt.Errorf("argon2 threads %d out of 1..16", p.Threads)
	}
	return nil
}

// Lengths of what Hash makes, and the bounds Check accepts in stored hashes.
const (
	SaltLen = 16
	KeyLen  = 32
	// MaxPasswordLen bounds what is hashed; longer passwords never match.
	MaxPasswordLen = 1024
)

// Hash is a stored argon2id password hash.
type Hash struct {
	Params
	Salt []byte
	Key  []byte
}

// Check reports whether h can be verified against: parameters in bounds,
// salt 8..64 and key 16..64 bytes.
func (h Hash) Check() error {
	if err := h.Params.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadHash, err)
	}
	switch {
	case len(h.Salt) < 8 || len(h.Salt) > 64:
		return fmt.Errorf("%w: salt length %d out of 8..64", ErrBadHash, len(h.Salt))
	case len(h.Key) < 16 || len(h.Key) > 64:
		return fmt.Errorf("%w: key length %d out of 16..64", ErrBadHash, len(h.Key))
	}
	return nil
}

// String is the PHC string form: $argon2id$v=19$m=..,t=..,p=..$salt$key.
func (h Hash) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.MemoryKiB, h.Time, h.Threads,
		b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// ParsePHC reads the PHC string form and checks its bounds.
func ParsePHC(phc string) (Hash, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Hash{}, fmt.Errorf("%w: not an argon2id PHC string", ErrBadHash)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Hash{}, fmt.Errorf("%w: version %q", ErrBadHash, parts[2])
	}
	var h Hash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.MemoryKiB, &h.Time, &h.Threads); err != nil {
		return Hash{}, fmt.Errorf("%w: parameters %q", ErrBadHash, parts[3])
	}
	b64 := base64.RawStdEncoding
	var err error
	if h.Salt, err = b64.DecodeString(parts[4]); err != nil {
		return Hash{}, fmt.Errorf("%w: salt: %v", ErrBadHash, err)
	}
	if h.Key, err = b64.DecodeString(parts[5]); err != nil {
		return Hash{}, fmt.Errorf("%w: key: %v", ErrBadHash, err)
	}
	return h, h.Check()
}

// Hasher makes and verifies hashes, each under Gate (DefaultGate when nil).
type Hasher struct {
	Params Params // for new hashes; zero means DefaultParams
	Gate   *Gate
}

func (hr Hasher) gate() *Gate {
	if hr.Gate != nil {
		return hr.Gate
	}
	return DefaultGate
}

// Hash hashes pw with a fresh salt. It fails with ErrBusy when the gate's
// queue is full, and refuses empty and over-long passwords.
func (hr Hasher) Hash(pw string) (Hash, error) {
	if pw == "" || len(pw) > MaxPasswordLen {
		return Hash{}, fmt.Errorf("login: password must be 1..%d bytes", MaxPasswordLen)
	}
	p := hr.Params
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.Check(); err != nil {
		return Hash{}, fmt.Errorf("login: parameters: %w", err)
	}
	h := Hash{Params: p, Salt: make([]byte, SaltLen)}
	_, _ = rand.Read(h.Salt) // crypto/rand.Read never fails (Go 1.24+)
	err := hr.gate().Do(func() {
		h.Key = argon2.IDKey([]byte(pw), h.Salt, p.Time, p.MemoryKiB, p.Threads, KeyLen)
	})
	if err != nil {
		return Hash{}, fmt.Errorf("login: hash: %w", err)
	}
	return h, nil
}

// Verify reports whether pw matches h, comparing in constant time. It does
// the same argon2 work for an over-long password (which never matches), so
// length is not told by timing. ErrBadHash for a damaged h, ErrBusy when the
// gate's queue is full.
func (hr Hasher) Verify(pw string, h Hash) (bool, error) {
	if err := h.Check(); err != nil {
		return false, err
	}
	tooLong := len(pw) > MaxPasswordLen
	if tooLong {
		pw = pw[:MaxPasswordLen]
	}
	var got []byte
	err := hr.gate().Do(func() {
		got = argon2.IDKey([]byte(pw), h.Salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(h.Key)))
	})
	if err != nil {
		return false, fmt.Errorf("login: verify: %w", err)
	}
	return subtle.ConstantTimeCompare(got, h.Key) == 1 && !tooLong, nil
}
