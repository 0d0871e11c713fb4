package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeV1 creates a file in the schema v1 layout (flat string keys), as the
// first release wrote it.
func writeV1(t *testing.T, path, expires string) {
	t.Helper()
	withBolt(t, path, func(tx *bolt.Tx) error {
		put := func(bucket, key, val string) {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			must(t, err)
			must(t, b.Put([]byte(key), []byte(val)))
		}
		put(bucketMeta, v1KeyVersion, "1")
		put(v1BucketAuth, "token", "v1-token")
		put(v1BucketAuth, "expires", expires)
		put(v1BucketAuth, "device", "dev-old")
		put(v1BucketConfig, "hub", "https://hub.old")
		put(v1BucketConfig, "room", "room-old")
		put(v1BucketLog, string(seqKey(7)), "2026-01-02T03:04:05Z\tsocket\tdisconnected\tconnected\tws")
		put(v1BucketLog, string(seqKey(8)), "2026-01-02T03:04:06.5Z\tpeer\tnew\tconnected\trelay")
		return nil
	})
}

func TestMigrateV1toV2(t *testing.T) {
	opts, clk := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	writeV1(t, path, "2027-01-01T00:00:00Z")

	s := mustOpen(t, path, opts)
	if ok, why := s.Recovered(); ok {
		t.Fatalf("v1 file was moved aside instead of migrated: %s", why)
	}
	if v, err := s.SchemaVersion(); v != 2 || err != nil {
		t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
	}
	sess, err := s.Session()
	if err != nil || sess.Token != "v1-token" || sess.DeviceID != "dev-old" || !sess.ExpiresAt.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("session after migration: %+v, %v", sess, err)
	}
	if st, err := s.Settings(); err != nil || st != (Settings{HubURL: "https://hub.old", RoomID: "room-old"}) {
		t.Fatalf("settings after migration: %+v, %v", st, err)
	}
	id, err := s.Identity()
	if err != nil || id.DeviceID != "dev-old" || len(id.InstallID) != 32 {
		t.Fatalf("identity after migration: %+v, %v", id, err)
	}
	ev, err := s.Events(10)
	if err != nil || len(ev) != 2 {
		t.Fatalf("events after migration: %+v, %v", ev, err)
	}
	if ev[0].Seq != 1 || ev[0].Component != "socket" || ev[0].To != "connected" || ev[0].Detail != "ws" ||
		ev[1].Component != "peer" || ev[1].Time.Nanosecond() != 500_000_000 {
		t.Fatalf("events converted wrongly: %+v", ev)
	}
	// The next event continues the sequence.
	must(t, s.AppendEvent(Event{Component: "c"}))
	if ev, _ := s.Events(1); ev[0].Seq != 3 {
		t.Fatalf("new event seq %d, want 3", ev[0].Seq)
	}
	var m metaRecord
	must(t, s.view(func(tx kvTx) error {
		for _, old := range []string{v1BucketAuth, v1BucketConfig, v1BucketLog} {
			if tx.bucket(old) != nil {
				t.Errorf("v1 bucket %q left behind", old)
			}
		}
		if tx.bucket(bucketMeta).get([]byte(v1KeyVersion)) != nil {
			t.Error("v1 version key left behind")
		}
		var err error
		m, err = readSchema(tx)
		return err
	}))
	if len(m.Migrations) != 1 || m.Migrations[0].From != 1 || m.Migrations[0].To != 2 || !m.Migrations[0].At.Equal(clk.Now()) {
		t.Fatalf("migration log %+v", m.Migrations)
	}
	must(t, s.Close())

	// Reopening does not migrate again.
	s = mustOpen(t, path, opts)
	defer s.Close()
	if id2, _ := s.Identity(); id2.InstallID != id.InstallID {
		t.Fatalf("install id changed on reopen: %s → %s", id.InstallID, id2.InstallID)
	}
}

// TestMigrationIsAtomic: a migration that fails half-way leaves the file
// exactly in its old layout, as a power cut during the migration would.
func TestMigrationIsAtomic(t *testing.T) {
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	writeV1(t, path, "2027-01-01T00:00:00Z")
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	defer db.Close()
	boom := errors.New("boom")
	steps := []migration{
		{From: 1, To: 2, Name: "real", Apply: migrateV1toV2},
		{From: 2, To: 3, Name: "fails", Apply: func(tx kvTx, _ migrateEnv) error { return boom }},
	}
	err = boltBackend{db}.update(func(tx kvTx) error {
		_, err := migrate(tx, steps, 3, migrateEnv{now: opts.Clock.Now(), installID: newInstallID})
		return err
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "2→3") {
		t.Fatalf("migrate error = %v", err)
	}
	must(t, db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(v1BucketAuth)) == nil || tx.Bucket([]byte(bucketSession)) != nil {
			t.Error("a failed migration changed the file")
		}
		if v := tx.Bucket([]byte(bucketMeta)).Get([]byte(v1KeyVersion)); string(v) != "1" {
			t.Errorf("version key = %q", v)
		}
		return nil
	}))

	// Missing step and a newer file.
	err = boltBackend{db}.update(func(tx kvTx) error {
		_, err := migrate(tx, nil, 2, migrateEnv{now: opts.Clock.Now(), installID: newInstallID})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "no migration from schema 1") {
		t.Fatalf("missing step: %v", err)
	}
	err = boltBackend{db}.view(func(tx kvTx) error {
		_, err := migrate(tx, migrations, 0, migrateEnv{})
		return err
	})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("older target: %v", err)
	}
}

// A v1 file whose data cannot be migrated must not stop the device booting.
func TestMigrationFailureRecovers(t *testing.T) {
	opts, _ := testOptions(t)
	path := filepath.Join(t.TempDir(), "state.db")
	writeV1(t, path, "next tuesday")
	s := mustOpen(t, path, opts)
	defer s.Close()
	ok, why := s.Recovered()
	if !ok || !strings.Contains(why, "auth/expires") {
		t.Fatalf("Recovered() = %v, %q; want recovery naming auth/expires", ok, why)
	}
	if v, _ := s.SchemaVersion(); v != currentSchema {
		t.Fatalf("fresh store schema %d", v)
	}
}
