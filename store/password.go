package store

import (
	"errors"
	"fmt"

	"tether/internal/login"
)

// SetSetupPassword hashes pw with argon2id (login.Hasher, under the
// process's hashing gate) and stores the hash, never pw. Empty and over-long
// passwords are rejected; policy beyond that belongs to the setup page.
// login.ErrBusy when too many hashes are queued.
func (s *Store) SetSetupPassword(pw string) error {
	if pw == "" || len(pw) > login.MaxPasswordLen {
		return fmt.Errorf("%w: setup password must be 1..%d bytes", ErrInvalid, login.MaxPasswordLen)
	}
	if err := s.opts.Argon2.Check(); err != nil {
		return fmt.Errorf("%w: argon2 parameters: %v", ErrInvalid, err)
	}
	h, err := login.Hasher{Params: s.opts.Argon2}.Hash(pw)
	if err != nil {
		return fmt.Errorf("store: set setup password: %w", err)
	}
	rec := passwordRecord{
		V: recordVersion, Algorithm: "argon2id",
		Time: h.Time, MemoryKiB: h.MemoryKiB, Threads: h.Threads,
		Salt: h.Salt, Hash: h.Key,
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
// constant time. ErrNoPassword if none is set; login.ErrBusy when too many
// hashes are queued.
func (s *Store) CheckSetupPassword(pw string) (bool, error) {
	rec, err := s.passwordRecord()
	if err != nil {
		return false, err
	}
	ok, err := login.Hasher{}.Verify(pw, rec.hash())
	if err != nil {
		return false, fmt.Errorf("store: check setup password: %w", err)
	}
	return ok, nil
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
