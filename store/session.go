package store

import "fmt"

// Session returns the stored hub session, or ErrNoSession (login needed).
func (s *Store) Session() (Session, error) {
	var sess Session
	err := s.view(func(tx kvTx) error {
		v, found, err := getRecord(tx, bucketSession, keySession, decodeSession)
		if err != nil {
			return err
		}
		if !found {
			return ErrNoSession
		}
		sess = v
		return nil
	})
	return sess, err
}

// SetSession stores a session after a login (setup page or `tetherd login`).
// SavedAt is set from the store's clock; a non-empty DeviceID is also
// recorded in Identity. The type has no password field on purpose
// (protocol.md: the appliance never stores the password).
func (s *Store) SetSession(sess Session) error {
	if err := sess.validate(); err != nil {
		return err
	}
	sess.SavedAt = s.now()
	return s.update(func(tx kvTx) error {
		if err := putRecord(tx, bucketSession, keySession, sessionRecord{V: recordVersion, Session: sess}); err != nil {
			return err
		}
		if sess.DeviceID == "" {
			return nil
		}
		id, _, err := getRecord(tx, bucketIdentity, keyIdentity, decodeIdentity)
		if err != nil {
			return err
		}
		if id.DeviceID == sess.DeviceID {
			return nil
		}
		id.DeviceID = sess.DeviceID
		return putRecord(tx, bucketIdentity, keyIdentity, identityRecord{V: recordVersion, Identity: id})
	})
}

// ClearSession forgets the token (session_expired, or a logout). Identity is
// kept. Clearing an absent session is not an error.
func (s *Store) ClearSession() error {
	return s.update(func(tx kvTx) error {
		b := tx.bucket(bucketSession)
		if b == nil {
			return nil
		}
		if err := b.del([]byte(keySession)); err != nil {
			return fmt.Errorf("store: clear session: %w", err)
		}
		return nil
	})
}

// Identity returns the install id, hardware id and the hub's device id.
func (s *Store) Identity() (Identity, error) {
	var id Identity
	err := s.view(func(tx kvTx) error {
		v, found, err := getRecord(tx, bucketIdentity, keyIdentity, decodeIdentity)
		if err != nil {
			return err
		}
		if !found {
			return corrupt(bucketIdentity+"/"+keyIdentity, fmt.Errorf("missing"))
		}
		id = v
		return nil
	})
	return id, err
}
