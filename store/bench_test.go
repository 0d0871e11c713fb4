package store

import (
	"tether/internal/login"

	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Each file benchmark includes bbolt's fdatasync per commit, which dominates
// on real storage; BenchmarkBoltPutBaseline is the same single-key commit
// with bbolt alone, so the ratio is the store's own overhead (JSON, record
// checks, ring trimming). The mem variants show the CPU cost alone.

func benchStores(b *testing.B, fn func(b *testing.B, s *Store)) {
	opts, _ := testOptions(b)
	b.Run("bolt", func(b *testing.B) {
		s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"), opts)
		defer s.Close()
		fn(b, s)
	})
	b.Run("mem", func(b *testing.B) {
		fn(b, NewMem(opts))
	})
}

func BenchmarkSetSession(b *testing.B) {
	benchStores(b, func(b *testing.B, s *Store) {
		sess := Session{Token: "eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbg.c2lnbmF0dXJl", ExpiresAt: time.Now().Add(time.Hour), DeviceID: "dev-1", RoomID: "room-1", HubURL: "https://hub.example"}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.SetSession(sess); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	benchStores(b, func(b *testing.B, s *Store) {
		// Fill the ring first so every append also trims the oldest entry,
		// the steady state on a device.
		for i := 0; i < DefaultEventLimit; i++ {
			must(b, s.AppendEvent(Event{Component: "socket", From: "connected", To: "reconnecting", Detail: "transport close"}))
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AppendEvent(Event{Component: "socket", From: "connected", To: "reconnecting", Detail: "transport close"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEvents100(b *testing.B) {
	benchStores(b, func(b *testing.B, s *Store) {
		for i := 0; i < DefaultEventLimit; i++ {
			must(b, s.AppendEvent(Event{Component: "peer", From: "connected", To: "disconnected", Detail: fmt.Sprint(i)}))
		}
		b.ReportAllocs()
		for b.Loop() {
			if ev, err := s.Events(100); err != nil || len(ev) != 100 {
				b.Fatal(len(ev), err)
			}
		}
	})
}

// BenchmarkBoltPutBaseline is one ~200-byte Put per bbolt transaction, the
// floor under SetSession and AppendEvent on the same disk.
func BenchmarkBoltPutBaseline(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	must(b, err)
	defer db.Close()
	val := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("k"), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckSetupPassword is one argon2id verification with
// login.DefaultParams, the cost of a setup-page login attempt.
func BenchmarkCheckSetupPassword(b *testing.B) {
	opts, _ := testOptions(b)
	opts.Argon2 = login.DefaultParams
	s := NewMem(opts)
	must(b, s.SetSetupPassword("correct horse battery staple"))
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := s.CheckSetupPassword("correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
