package store

import "fmt"

// LinkState returns the last working transport and ICE path, the counters and
// the last error. A damaged record yields the zero LinkState and an error
// wrapping ErrCorruptRecord; the next write replaces it.
func (s *Store) LinkState() (LinkState, error) {
	var ls LinkState
	err := s.view(func(tx kvTx) error {
		v, _, err := getRecord(tx, bucketLink, keyLink, decodeLink)
		ls = v
		return err
	})
	return ls, err
}

// RecordTransport stores the Engine.IO transport that just carried a working
// connection, so the next boot can try it first.
func (s *Store) RecordTransport(t Transport) error {
	if !t.valid() || t == TransportNone {
		return fmt.Errorf("%w: transport %q", ErrInvalid, string(t))
	}
	now := s.now()
	return s.updateLink(func(tx kvTx, ls *LinkState) error {
		ls.Transport, ls.TransportAt = t, now
		return nil
	})
}

// RecordICEPath stores the candidate type of the selected pair of the last
// connected peer.
func (s *Store) RecordICEPath(p string) error {
	if !validICEPath(p) || p == "" {
		return fmt.Errorf("%w: ICE path %q", ErrInvalid, p)
	}
	now := s.now()
	return s.updateLink(func(tx kvTx, ls *LinkState) error {
		ls.ICEPath, ls.ICEPathAt = p, now
		return nil
	})
}

// IncrCounter adds one to c, appends a history entry with detail, and returns
// the new total.
func (s *Store) IncrCounter(c Counter, detail string) (uint64, error) {
	var n uint64
	now := s.now()
	err := s.updateLink(func(tx kvTx, ls *LinkState) error {
		var p *uint64
		switch c {
		case CounterSocketReconnect:
			p = &ls.SocketReconnects
		case CounterICERestart:
			p = &ls.ICERestarts
		case CounterCustomerChange:
			p = &ls.CustomerChanges
		default:
			return fmt.Errorf("%w: %v", ErrInvalid, c)
		}
		*p++
		n = *p
		return s.appendHistory(tx, HistoryEntry{Time: now, Kind: c.String(), Detail: detail})
	})
	return n, err
}

// RecordError stores the last error (with its component and time) and adds
// it to the history.
func (s *Store) RecordError(component, msg string) error {
	if component == "" {
		return fmt.Errorf("%w: empty component", ErrInvalid)
	}
	now := s.now()
	component, msg = clip(component, maxNameLen), clip(msg, maxDetailLen)
	return s.updateLink(func(tx kvTx, ls *LinkState) error {
		ls.LastError, ls.LastErrorComponent, ls.LastErrorAt = msg, component, now
		return s.appendHistory(tx, HistoryEntry{Time: now, Kind: HistoryError, Detail: component + ": " + msg})
	})
}

// History returns up to the last n history entries, oldest first. Damaged
// entries are skipped and reported with an error wrapping ErrCorruptRecord
// alongside the good ones.
func (s *Store) History(n int) ([]HistoryEntry, error) {
	return readRing(s, bucketHistory, n, decodeHistory)
}

func (s *Store) updateLink(fn func(kvTx, *LinkState) error) error {
	return s.update(func(tx kvTx) error {
		ls, _, err := getRecord(tx, bucketLink, keyLink, decodeLink)
		if err != nil {
			s.log.Warn("stored link state unreadable; starting from zero", "err", err)
			ls = LinkState{}
		}
		if err := fn(tx, &ls); err != nil {
			return err
		}
		return putRecord(tx, bucketLink, keyLink, linkRecord{V: recordVersion, LinkState: ls})
	})
}

func (s *Store) appendHistory(tx kvTx, h HistoryEntry) error {
	h.Kind, h.Detail = clip(h.Kind, maxNameLen), clip(h.Detail, maxDetailLen)
	return appendRing(tx, bucketHistory, s.opts.HistoryLimit, func(seq uint64) any {
		h.Seq = seq
		return historyRecord{V: recordVersion, HistoryEntry: h}
	})
}
