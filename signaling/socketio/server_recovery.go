package socketio

import (
	"strconv"
	"strings"
	"time"
)

// Connection state recovery, as socket.io 4.8's in-memory
// SessionAwareAdapter does it: every broadcast event gets an offset as its
// last argument and is kept for the recovery window; a socket lost for a
// recoverable reason is kept as a session (id, private id, rooms, data);
// a CONNECT whose auth carries that session's pid and an offset still in
// the log restores the session and gets the broadcasts after that offset
// that its rooms would have received. Everything here is guarded by
// Server.mu.

// session is a lost socket kept for recovery.
type session struct {
	sid, pid string
	rooms    []string
	data     any
	at       time.Time // when it was lost
}

// logged is one broadcast kept for recovery, already encoded with its
// offset.
type logged struct {
	seq         uint64
	offset      string
	rooms       []string
	except      []string
	text        []byte
	attachments [][]byte
	at          time.Time
}

type recovery struct {
	prefix   string // per server instance: offsets of another run never match
	seq      uint64 // last offset handed out
	packets  []*logged
	bytes    int64               // encoded size of packets
	sessions map[string]*session // by pid
}

func (r *recovery) init(prefix string) {
	r.prefix = prefix + "-"
	r.sessions = make(map[string]*session)
}

// nextOffset hands out the next offset; cancelOffset takes it back when
// the broadcast failed to encode, so logged sequence numbers have no gaps.
func (r *recovery) nextOffset() string {
	r.seq++
	return r.prefix + strconv.FormatUint(r.seq, 36)
}

func (r *recovery) cancelOffset() { r.seq-- }

// index finds the logged packet with offset off.
func (r *recovery) index(off string) int {
	rest, ok := strings.CutPrefix(off, r.prefix)
	if !ok || len(r.packets) == 0 {
		return -1
	}
	seq, err := strconv.ParseUint(rest, 36, 64)
	if err != nil || seq < r.packets[0].seq {
		return -1
	}
	i := seq - r.packets[0].seq
	if i >= uint64(len(r.packets)) || r.packets[i].offset != off {
		return -1
	}
	return int(i)
}

func (l *logged) size() int64 {
	n := int64(len(l.text))
	for _, a := range l.attachments {
		n += int64(len(a))
	}
	return n
}

// append logs a broadcast, dropping those older than window and the
// oldest beyond maxPackets or maxBytes.
func (r *recovery) append(l *logged, now time.Time, window time.Duration, maxPackets int, maxBytes int64) {
	l.seq = r.seq
	r.purge(now, window)
	r.packets = append(r.packets, l)
	r.bytes += l.size()
	n := 0
	for len(r.packets)-n > maxPackets || (r.bytes > maxBytes && n < len(r.packets)) {
		r.bytes -= r.packets[n].size()
		n++
	}
	r.drop(n)
}

// drop forgets the n oldest packets.
func (r *recovery) drop(n int) {
	if n == 0 {
		return
	}
	clear(r.packets[:n])
	r.packets = r.packets[n:]
	if len(r.packets) == 0 {
		r.packets, r.bytes = nil, 0
	}
}

func (r *recovery) purge(now time.Time, window time.Duration) {
	n := 0
	for n < len(r.packets) && now.Sub(r.packets[n].at) > window {
		r.bytes -= r.packets[n].size()
		n++
	}
	r.drop(n)
}

// sweep drops what is older than the window.
func (r *recovery) sweep(now time.Time, window time.Duration) {
	r.purge(now, window)
	for pid, s := range r.sessions {
		if now.Sub(s.at) > window {
			delete(r.sessions, pid)
		}
	}
}

func (r *recovery) persist(s *session) {
	if s.pid != "" {
		r.sessions[s.pid] = s
	}
}

// restore takes the session pid when it is within the window and offset
// is still logged, with the broadcasts it missed. Like socket.io, an
// unknown offset leaves the session in place (a later CONNECT with a good
// offset may still restore it) and restores nothing. A session that missed
// more than maxReplay bytes is dropped: the client starts afresh.
func (r *recovery) restore(pid, offset string, now time.Time, window time.Duration, maxReplay int64) (*session, []*logged) {
	s := r.sessions[pid]
	if s == nil {
		return nil, nil
	}
	if now.Sub(s.at) > window {
		delete(r.sessions, pid)
		return nil, nil
	}
	i := r.index(offset)
	if i < 0 {
		return nil, nil
	}
	delete(r.sessions, pid)
	var missed []*logged
	var bytes int64
	for _, l := range r.packets[i+1:] {
		if l.includes(s.rooms) {
			// Engine.IO framing: one byte per packet and attachment.
			bytes += l.size() + 1 + int64(len(l.attachments))
			if maxReplay > 0 && bytes > maxReplay {
				return nil, nil
			}
			missed = append(missed, l)
		}
	}
	return s, missed
}

// includes is socket.io's shouldIncludePacket: the packet went to one of
// the session's rooms (or to all) and to none it was excluded from.
func (l *logged) includes(rooms []string) bool {
	in := len(l.rooms) == 0
	for _, r := range rooms {
		for _, x := range l.except {
			if r == x {
				return false
			}
		}
		if !in {
			for _, t := range l.rooms {
				if r == t {
					in = true
					break
				}
			}
		}
	}
	return in
}
