package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// recordCodecs decode one record and encode the result again.
var recordCodecs = []struct {
	name string
	rt   func(data []byte) ([]byte, error)
}{
	{"settings", roundTrip(decodeSettings, func(v Settings) any { return settingsRecord{V: recordVersion, Settings: v} })},
	{"session", roundTrip(decodeSession, func(v Session) any { return sessionRecord{V: recordVersion, Session: v} })},
	{"identity", roundTrip(decodeIdentity, func(v Identity) any { return identityRecord{V: recordVersion, Identity: v} })},
	{"link", roundTrip(decodeLink, func(v LinkState) any { return linkRecord{V: recordVersion, LinkState: v} })},
	{"history", roundTrip(decodeHistory, func(v HistoryEntry) any { return historyRecord{V: recordVersion, HistoryEntry: v} })},
	{"event", roundTrip(decodeEvent, func(v Event) any { return eventRecord{V: recordVersion, Event: v} })},
	{"password", roundTrip(decodePassword, func(v passwordRecord) any { return v })},
	{"setup-cert", roundTrip(decodeSetupCert, func(v setupCertRecord) any { return v })},
	{"meta", roundTrip(decodeMeta, func(v metaRecord) any { return v })},
}

func roundTrip[T any](dec func(string, []byte) (T, error), wrap func(T) any) func([]byte) ([]byte, error) {
	return func(data []byte) ([]byte, error) {
		v, err := dec("fuzz/key", data)
		if err != nil {
			return nil, err
		}
		return encodeJSON(wrap(v))
	}
}

// FuzzRecordDecoders feeds every record decoder arbitrary bytes: it must
// return a value or an error wrapping ErrCorruptRecord, never panic, and
// what it accepts must survive encode → decode unchanged.
func FuzzRecordDecoders(f *testing.F) {
	seeds := [][]byte{
		[]byte(`{"v":1,"hubUrl":"https://h","roomId":"r","width":1280,"height":720,"fps":30,"bitrateKbps":2000}`),
		[]byte(`{"v":1,"token":"t","expiresAt":"2027-01-01T00:00:00Z","deviceId":"d","savedAt":"2026-01-01T00:00:00.5+02:00"}`),
		[]byte(`{"v":1,"installId":"00112233445566778899aabbccddeeff","createdAt":"2026-01-01T00:00:00Z"}`),
		[]byte(`{"v":1,"transport":"websocket","icePath":"relay","socketReconnects":3,"lastError":"x","lastErrorAt":"2026-01-01T00:00:00Z"}`),
		[]byte(`{"v":1,"seq":4,"time":"2026-01-01T00:00:00Z","kind":"ice_restart","detail":"d"}`),
		[]byte(`{"v":1,"seq":9,"time":"2026-01-01T00:00:00Z","component":"socket","from":"a","to":"b"}`),
		[]byte(`{"v":1,"alg":"argon2id","t":2,"m":19456,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","setAt":"2026-01-01T00:00:00Z"}`),
		[]byte(`{"v":1,"schema":2,"createdAt":"2026-01-01T00:00:00Z","migrations":[{"from":1,"to":2,"at":"2026-01-01T00:00:00Z"}]}`),
		[]byte(`{"v":2}`), []byte(`{}`), []byte(`null`), []byte(``), []byte(`{"v":1,"transport":7}`),
	}
	for i := range recordCodecs {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		c := recordCodecs[int(kind)%len(recordCodecs)]
		enc, err := c.rt(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("%s: error %v does not wrap ErrCorruptRecord", c.name, err)
			}
			return
		}
		enc2, err := c.rt(enc)
		if err != nil {
			t.Fatalf("%s: re-decoding our own encoding %s: %v", c.name, enc, err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("%s: not stable:\n%s\n%s", c.name, enc, enc2)
		}
	})
}

// FuzzVerifyFile feeds the raw page walker arbitrary files, seeded with a
// real store: it must never panic, whatever the bytes.
func FuzzVerifyFile(f *testing.F) {
	// A small-page file cut at its high-water mark keeps inputs a few KB, so
	// the fuzzer mutates structure rather than padding.
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 512})
	must(f, err)
	must(f, db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			_, _ = tx.CreateBucket([]byte(name))
		}
		ev := tx.Bucket([]byte(bucketEvents))
		for i := 0; i < 40; i++ {
			_ = ev.Put(seqKey(uint64(i)), []byte(`{"v":1,"component":"socket","detail":"0123456789"}`))
		}
		in, _ := tx.Bucket([]byte(bucketMeta)).CreateBucket([]byte("inline"))
		return in.Put([]byte("k"), []byte("v"))
	}))
	must(f, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketEvents)).Delete(seqKey(3)) }))
	must(f, db.Close())
	raw, err := os.ReadFile(path)
	must(f, err)
	m, err := pickMeta(raw)
	must(f, err)
	good := raw[:m.pgid*uint64(m.pageSize)]
	if err := verifyFile(good); err != nil {
		f.Fatalf("verifyFile rejects a healthy store: %v", err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:1024])
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = verifyFile(data)
	})
}

// TestVerifyFileAcceptsHealthyStores checks the walker against files bbolt
// wrote with overflow pages, a branch level, several buckets and a freed
// freelist, so it cannot be stricter than bbolt itself.
func TestVerifyFileAcceptsHealthyStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.db")
	withBolt(t, path, func(tx *bolt.Tx) error {
		for b := 0; b < 5; b++ {
			bk, _ := tx.CreateBucket([]byte{'b', byte('0' + b)})
			for i := 0; i < 2000; i++ {
				_ = bk.Put(seqKey(uint64(i)), bytes.Repeat([]byte{byte(i)}, 100))
			}
		}
		big, _ := tx.CreateBucket([]byte("big"))
		return big.Put([]byte("k"), make([]byte, 50_000)) // overflow pages
	})
	withBolt(t, path, func(tx *bolt.Tx) error {
		return tx.DeleteBucket([]byte("b2")) // freed pages, longer freelist
	})
	withBolt(t, path, func(tx *bolt.Tx) error {
		inl, _ := tx.CreateBucket([]byte("in"))
		sub, _ := inl.CreateBucket([]byte("nested-inline"))
		return sub.Put([]byte("k"), []byte("v"))
	})
	data, err := os.ReadFile(path)
	must(t, err)
	if err := verifyFile(data); err != nil {
		t.Fatalf("verifyFile rejects a healthy %d-byte file: %v", len(data), err)
	}
}
