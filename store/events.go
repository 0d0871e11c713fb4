package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AppendEvent adds one state transition to the bounded event log (the
// oldest entries beyond Options.EventLimit are dropped in the same
// transaction). Seq is assigned here; a zero Time is stamped from the clock.
// Component is required; long fields are clipped.
func (s *Store) AppendEvent(e Event) error {
	if e.Component == "" {
		return fmt.Errorf("%w: event without component", ErrInvalid)
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Component = clip(e.Component, maxNameLen)
	e.From, e.To = clip(e.From, maxNameLen), clip(e.To, maxNameLen)
	e.Detail = clip(e.Detail, maxDetailLen)
	return s.update(func(tx kvTx) error {
		return appendEventTx(tx, s.opts.EventLimit, e)
	})
}

func appendEventTx(tx kvTx, limit int, e Event) error {
	return appendRing(tx, bucketEvents, limit, func(seq uint64) any {
		e.Seq = seq
		return eventRecord{V: recordVersion, Event: e}
	})
}

// Events returns up to the last n events, oldest first. Damaged entries are
// skipped and reported with an error wrapping ErrCorruptRecord alongside the
// good ones, so one bad record never hides the rest of the log.
func (s *Store) Events(n int) ([]Event, error) {
	return readRing(s, bucketEvents, n, decodeEvent)
}

// appendRing writes rec(seq) under the bucket's next sequence number and
// deletes entries older than the last limit. Keys are big-endian sequence
// numbers, so the bucket's byte order is insertion order.
func appendRing(tx kvTx, bucket string, limit int, rec func(seq uint64) any) error {
	b, err := tx.createBucket(bucket)
	if err != nil {
		return err
	}
	seq, err := b.nextSequence()
	if err != nil {
		return fmt.Errorf("store: %s sequence: %w", bucket, err)
	}
	raw, err := encodeJSON(rec(seq))
	if err != nil {
		return err
	}
	if err := b.put(seqKey(seq), raw); err != nil {
		return fmt.Errorf("store: put %s/%d: %w", bucket, seq, err)
	}
	if seq <= uint64(limit) {
		return nil
	}
	cutoff := seq - uint64(limit) // keep keys > cutoff
	for {
		// Normally exactly one key to drop; more after EventLimit shrinks.
		keys := b.firstKeys(4)
		dropped := 0
		for _, k := range keys {
			if len(k) == 8 && binary.BigEndian.Uint64(k) > cutoff {
				break
			}
			if err := b.del(k); err != nil {
				return fmt.Errorf("store: trim %s: %w", bucket, err)
			}
			dropped++
		}
		if dropped < len(keys) || len(keys) == 0 {
			return nil
		}
	}
}

func readRing[T any](s *Store, bucket string, n int, decode func(string, []byte) (T, error)) ([]T, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []T
	var errs []error
	err := s.view(func(tx kvTx) error {
		b := tx.bucket(bucket)
		if b == nil {
			return nil
		}
		out = make([]T, 0, min(n, 1024))
		return b.tail(n, func(k, v []byte) error {
			item, err := decode(fmt.Sprintf("%s/%x", bucket, k), v)
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			out = append(out, item)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}
