package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Buckets and keys of the current schema (docs/store.md is the table).
const (
	bucketMeta     = "meta"
	bucketSettings = "settings"
	bucketSession  = "session"
	bucketIdentity = "identity"
	bucketLink     = "link"
	bucketHistory  = "history"
	bucketEvents   = "events"
	bucketSetup    = "setup"

	keySchema    = "schema"
	keySettings  = "settings"
	keySession   = "session"
	keyIdentity  = "identity"
	keyLink      = "link"
	keyPassword  = "password"
	keySetupCert = "tls"
)

// currentSchema is the layout this release writes. Bump it together with a new
// entry in migrations; never edit a released migration.
const currentSchema = 2

// allBuckets are created on a fresh file and after migrations.
var allBuckets = []string{bucketMeta, bucketSettings, bucketSession, bucketIdentity, bucketLink, bucketHistory, bucketEvents, bucketSetup}

// migration moves a file from schema From to schema To inside the single
// transaction that also writes the new version, so a power cut mid-migration
// leaves the old layout intact and the next boot simply runs it again.
type migration struct {
	From, To int
	Name     string
	Apply    func(tx kvTx, env migrateEnv) error
}

// migrateEnv is what a migration may use besides the transaction.
type migrateEnv struct {
	now       time.Time
	installID func() (string, error)
}

// migrations are applied in order from the file's schema to currentSchema.
var migrations = []migration{
	{From: 1, To: 2, Name: "v1 flat string keys to versioned JSON records", Apply: migrateV1toV2},
}

// Schema v1 (the first layout, before records carried a version): one plain
// string per key, events as tab-separated lines. Kept here only so that
// migrateV1toV2 can read it.
const (
	v1BucketAuth   = "auth"   // token, expires (RFC 3339), device
	v1BucketConfig = "config" // hub, room
	v1BucketLog    = "log"    // 8-byte big-endian seq → "time\tcomponent\tfrom\tto\tdetail"
	v1KeyVersion   = "version"
)

// readSchema returns the file's schema version: 0 for an empty file, or an
// error for a layout that is not ours.
func readSchema(tx kvTx) (metaRecord, error) {
	meta := tx.bucket(bucketMeta)
	if meta == nil {
		if len(tx.bucketNames()) == 0 {
			return metaRecord{}, nil
		}
		return metaRecord{}, fmt.Errorf("%w: no %q bucket but buckets %v", ErrCorruptFile, bucketMeta, tx.bucketNames())
	}
	if raw := meta.get([]byte(keySchema)); raw != nil {
		return decodeMeta(bucketMeta+"/"+keySchema, raw)
	}
	if raw := meta.get([]byte(v1KeyVersion)); raw != nil {
		v, err := strconv.Atoi(string(raw))
		if err != nil || v != 1 {
			return metaRecord{}, corrupt(bucketMeta+"/"+v1KeyVersion, fmt.Errorf("bad v1 version %q", raw))
		}
		return metaRecord{Schema: 1}, nil
	}
	return metaRecord{}, fmt.Errorf("%w: %q bucket without a schema key", ErrCorruptFile, bucketMeta)
}

// migrate brings the file to target with the given steps, in one transaction.
// It returns the schema the file had before.
func migrate(tx kvTx, steps []migration, target int, env migrateEnv) (from int, err error) {
	m, err := readSchema(tx)
	if err != nil {
		return 0, err
	}
	from = m.Schema
	if from > target {
		return from, fmt.Errorf("%w: file schema %d, this release knows %d", ErrSchemaTooNew, from, target)
	}
	if from == 0 {
		m = metaRecord{Schema: target, CreatedAt: env.now}
	}
	for m.Schema < target {
		i := slices.IndexFunc(steps, func(s migration) bool { return s.From == m.Schema })
		if i < 0 {
			return from, fmt.Errorf("store: no migration from schema %d", m.Schema)
		}
		step := steps[i]
		if err := step.Apply(tx, env); err != nil {
			return from, fmt.Errorf("store: migration %d→%d (%s): %w", step.From, step.To, step.Name, err)
		}
		m.Migrations = append(m.Migrations, migrationLog{From: step.From, To: step.To, At: env.now})
		m.Schema = step.To
	}
	for _, name := range allBuckets {
		if _, err := tx.createBucket(name); err != nil {
			return from, fmt.Errorf("store: create bucket %s: %w", name, err)
		}
	}
	if from != target {
		if m.CreatedAt.IsZero() {
			m.CreatedAt = env.now
		}
		m.V = recordVersion
		raw, err := encodeJSON(m)
		if err != nil {
			return from, err
		}
		if err := tx.bucket(bucketMeta).put([]byte(keySchema), raw); err != nil {
			return from, err
		}
	}
	return from, nil
}

// migrateV1toV2 turns the flat v1 keys into JSON records: auth/* becomes the
// session record, config/* the settings record, log/* the event log; an
// install id is generated because v1 had none.
func migrateV1toV2(tx kvTx, env migrateEnv) error {
	for _, name := range allBuckets {
		if _, err := tx.createBucket(name); err != nil {
			return err
		}
	}
	id, err := env.installID()
	if err != nil {
		return err
	}
	ident := Identity{InstallID: id, CreatedAt: env.now}

	if auth := tx.bucket(v1BucketAuth); auth != nil {
		ident.DeviceID = string(auth.get([]byte("device")))
		if tok := string(auth.get([]byte("token"))); tok != "" {
			sess := Session{Token: tok, DeviceID: ident.DeviceID, SavedAt: env.now}
			if exp := auth.get([]byte("expires")); len(exp) > 0 {
				t, err := time.Parse(time.RFC3339, string(exp))
				if err != nil {
					return corrupt(v1BucketAuth+"/expires", err)
				}
				sess.ExpiresAt = t
			}
			if err := sess.validate(); err != nil {
				return corrupt(v1BucketAuth+"/token", err)
			}
			if err := putRecord(tx, bucketSession, keySession, sessionRecord{V: recordVersion, Session: sess}); err != nil {
				return err
			}
		}
	}
	if err := putRecord(tx, bucketIdentity, keyIdentity, identityRecord{V: recordVersion, Identity: ident}); err != nil {
		return err
	}

	if cfg := tx.bucket(v1BucketConfig); cfg != nil {
		set := Settings{HubURL: string(cfg.get([]byte("hub"))), RoomID: string(cfg.get([]byte("room")))}
		if err := set.Validate(); err != nil {
			return corrupt(v1BucketConfig, err)
		}
		if err := putRecord(tx, bucketSettings, keySettings, settingsRecord{V: recordVersion, Settings: set}); err != nil {
			return err
		}
	}

	if log := tx.bucket(v1BucketLog); log != nil {
		events := tx.bucket(bucketEvents)
		err := log.forEach(func(k, v []byte) error {
			f := strings.SplitN(string(v), "\t", 5)
			if len(k) != 8 || len(f) != 5 {
				return corrupt(v1BucketLog+"/"+fmt.Sprintf("%x", k), fmt.Errorf("not a v1 log line"))
			}
			t, err := time.Parse(time.RFC3339Nano, f[0])
			if err != nil {
				return corrupt(v1BucketLog+"/"+fmt.Sprintf("%x", k), err)
			}
			seq, err := events.nextSequence()
			if err != nil {
				return err
			}
			ev := Event{Seq: seq, Time: t, Component: f[1], From: f[2], To: f[3], Detail: f[4]}
			raw, err := encodeJSON(eventRecord{V: recordVersion, Event: ev})
			if err != nil {
				return err
			}
			return events.put(seqKey(seq), raw)
		})
		if err != nil {
			return err
		}
	}

	for _, old := range []string{v1BucketAuth, v1BucketConfig, v1BucketLog} {
		if err := tx.deleteBucket(old); err != nil {
			return err
		}
	}
	return tx.bucket(bucketMeta).del([]byte(v1KeyVersion))
}

func putRecord(tx kvTx, bucket, key string, rec any) error {
	raw, err := encodeJSON(rec)
	if err != nil {
		return err
	}
	b, err := tx.createBucket(bucket)
	if err != nil {
		return err
	}
	if err := b.put([]byte(key), raw); err != nil {
		return fmt.Errorf("store: put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// seqKey is the big-endian key of ring entries, so byte order is seq order.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}
