package store

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters (RFC 9106 §3.1).
type Argon2Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultArgon2 follows the OWASP password storage minimum for argon2id
// (19 MiB, 2 passes, 1 lane): the memory fits a Pi Zero 2 W with 512 MB, one
// check costs ~70 ms on an amd64 build machine (BenchmarkCheckSetupPassword;
// a Pi is slower), and the setup page rate-limits logins on top.
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// check bounds the parameters, for our own options and for stored records:
// a damaged record must not ask argon2 for gigabytes of memory or hours of
// work on a Pi.
func (p Argon2Params) check() error {
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

const (
	saltLen   = 16
	hashLen   = 32
	maxPwdLen = 1024
)

// SetSetupPassword hashes pw with argon2id and a fresh salt and stores the
// hash (never pw). Empty and over-long passwords are rejected; policy beyond
// that belongs to the setup page.
func (s *Store) SetSetupPassword(pw string) error {
	if pw == "" || len(pw) > maxPwdLen {
		return fmt.Errorf("%w: setup password must be 1..%d bytes", ErrInvalid, maxPwdLen)
	}
	p := s.opts.Argon2
	if err := p.check(); err != nil {
		return fmt.Errorf("%w: argon2 parameters: %v", ErrInvalid, err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("store: salt: %w", err)
	}
	rec := passwordRecord{
		V: recordVersion, Algorithm: "argon2id",
		Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads,
		Salt: salt, Hash: argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, hashLen),
		SetAt: s.now(),
	}
	return s.update(func(tx kvTx) error {
		return putRecord(tx, bucketSetup, keyPassword, rec)
	})
}

// HasSetupPassword reports whether a setup password was chosen (first boot
// forces choosing one).
func (s *Store) HasSetupPassword() (bool, error) {
	_, err := s.passwordRecord()
	if errors.Is(err, ErrNoPassword) {
		return false, nil
	}
	return err == nil, err
}

// CheckSetupPassword reports whether pw matches the stored hash, comparing in
// constant time. ErrNoPassword if none is set.
func (s *Store) CheckSetupPassword(pw string) (bool, error) {
	rec, err := s.passwordRecord()
	if err != nil {
		return false, err
	}
	if len(pw) > maxPwdLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), rec.Salt, rec.Time, rec.MemoryKiB, rec.Threads, uint32(len(rec.Hash)))
	return subtle.ConstantTimeCompare(got, rec.Hash) == 1, nil
}

// ClearSetupPassword removes the hash (the 10 s button hold); the setup page
// then asks for a new one.
func (s *Store) ClearSetupPassword() error {
	return s.update(func(tx kvTx) error {
		if b := tx.bucket(bucketSetup); b != nil {
			return b.del([]byte(keyPassword))
		}
		return nil
	})
}

func (s *Store) passwordRecord() (passwordRecord, error) {
	var rec passwordRecord
	err := s.view(func(tx kvTx) error {
		v, found, err := getRecord(tx, bucketSetup, keyPassword, decodePassword)
		if err != nil {
			return err
		}
		if !found {
			return ErrNoPassword
		}
		rec = v
		return nil
	})
	return rec, err
}
