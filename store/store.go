package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"

	"tether/internal/login"
)

// Defaults for Options fields left zero.
const (
	DefaultLockTimeout  = 2 * time.Second
	DefaultEventLimit   = 1000
	DefaultHistoryLimit = 200
)

// fileMode is the mode of the store file: it holds the session token and the
// setup password hash, so only the daemon's user may read it.
const fileMode fs.FileMode = 0o600

// Options configures a Store. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for bbolt's file lock. A second process
	// holding it yields ErrLocked after this long instead of a hang.
	LockTimeout time.Duration
	// EventLimit is how many events the ring keeps (default 1000).
	EventLimit int
	// HistoryLimit is how many history entries the ring keeps (default 200).
	HistoryLimit int
	// HardwareID is the board's stable id (e.g. the SoC serial from
	// /proc/device-tree/serial-number), recorded in Identity. Optional.
	HardwareID string
	// Argon2 are the cost parameters for new setup-password hashes; zero
	// means login.DefaultParams. Stored hashes keep the parameters they
	// were made with.
	Argon2 login.Params
	// Clock stamps records and names moved-aside files; nil means the wall
	// clock.
	Clock clockwork.Clock
	// Logger receives the store's log lines, with component=store added; nil
	// means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.EventLimit <= 0 {
		o.EventLimit = DefaultEventLimit
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	if o.Argon2 == (login.Params{}) {
		o.Argon2 = login.DefaultParams
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("component", "store")
	return o
}

// Store is the appliance's persistent state. Every method is one transaction
// and safe for concurrent use; bbolt serialises writers.
type Store struct {
	be   backend
	path string // "" for NewMem
	opts Options
	log  *slog.Logger

	recovered bool   // set once in Open, read-only after
	reason    string // why recovered is set

	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the store file at path (mode 0600, parent directory
// created 0700), migrates it to the current schema and makes sure an install
// id exists.
//
// A file that bbolt cannot open, that fails the consistency check, whose
// layout is not ours, whose schema is newer than this release or whose
// migration fails is renamed to <path>.corrupt-<UTC time> (logged at error
// level) and replaced by a fresh store; Recovered then reports it. Open only
// fails when the lock is held (ErrLocked) or when even a fresh file cannot be
// created — the caller may then fall back to NewMem so the device still comes
// up.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if path == "" {
		return nil, fmt.Errorf("%w: empty store path", ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{path: path, opts: opts, log: opts.Logger}

	for attempt := 0; ; attempt++ {
		info, statErr := os.Stat(path)
		existed := statErr == nil
		if existed && info.Size() == 0 {
			// bbolt initialises an empty file as a new database. It happens
			// when power fails between creating the file and bbolt's first
			// write; nothing can be lost, but say so.
			s.log.Warn("store file is empty; initialising a new store", "path", path)
		}
		err := s.openFile()
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrLocked) || !existed || attempt > 0 || !errors.Is(err, ErrCorruptFile) {
			return nil, err
		}
		moved, mvErr := s.moveAside()
		if mvErr != nil {
			return nil, fmt.Errorf("store: open %s: %w (moving it aside failed: %v)", path, err, mvErr)
		}
		s.recovered = true
		s.reason = fmt.Sprintf("%v; moved to %s and started with defaults", err, moved)
		s.log.Error("store file unreadable; moved aside, starting with defaults",
			"path", path, "moved_to", moved, "err", err)
		s.pruneCorrupt()
	}
}

// keepCorrupt is how many moved-aside files are kept for diagnosis. Older
// ones are deleted so that a card that corrupts the file on every boot
// cannot fill up with copies.
const keepCorrupt = 3

func (s *Store) pruneCorrupt() {
	old, err := filepath.Glob(s.path + ".corrupt-*")
	if err != nil || len(old) <= keepCorrupt {
		return
	}
	sort.Slice(old, func(i, j int) bool { return modTime(old[i]).Before(modTime(old[j])) })
	for _, f := range old[:len(old)-keepCorrupt] {
		if err := os.Remove(f); err != nil {
			s.log.Warn("could not delete old moved-aside store file", "path", f, "err", err)
			continue
		}
		s.log.Info("deleted old moved-aside store file", "path", f)
	}
}

func modTime(path string) time.Time {
	info, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

// openFile opens the bbolt file, checks it and runs migrations. Any failure
// that means "this file is not a good store" is reported as ErrCorruptFile.
func (s *Store) openFile() (err error) {
	db, err := openChecked(s.path, s.opts.LockTimeout)
	if err != nil {
		return err
	}
	s.be = boltBackend{db}
	if err := s.init(); err != nil {
		_ = closeQuietly(db)
		s.be = nil
		if errors.Is(err, ErrCorruptRecord) || errors.Is(err, ErrSchemaTooNew) || errors.Is(err, ErrCorruptFile) {
			return fmt.Errorf("%w: %s: %v", ErrCorruptFile, s.path, err)
		}
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	if info, err := os.Stat(s.path); err == nil && info.Mode().Perm() != fileMode {
		// bbolt applies the mode only when it creates the file.
		s.log.Warn("store file mode was too open; fixed", "path", s.path, "mode", info.Mode().Perm().String())
		if err := os.Chmod(s.path, fileMode); err != nil {
			return fmt.Errorf("store: chmod %s: %w", s.path, err)
		}
	}
	return nil
}

// maxFileSize bounds the file verifyFile reads into memory. The bounded
// rings keep a healthy store well under a megabyte; anything this big is
// damage or a bug, and reading it could exhaust a Pi's memory.
const maxFileSize = 64 << 20

// openChecked opens the bbolt file and proves it readable before any write.
//
// bbolt trusts its pages (see verifyFile), so the raw structure is checked
// first, under a shared lock taken by a read-only bbolt open (read-only mode
// does not load the freelist, so it reads nothing but the meta pages). The
// lock matters: reading a file another process is writing could see a
// half-written tree and move a healthy file aside. Then the file is opened
// read-write and bbolt's own consistency check runs.
//
// As a last line of defence, panics and memory faults on this goroutine
// (debug.SetPanicOnFault) become ErrCorruptFile instead of a crash, because a
// crash here is a boot loop. If bbolt panicked half-way through Open its
// descriptor leaks until exit; the file is then renamed, so the leak does not
// block the fresh store.
func openChecked(path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = closeQuietly(db)
			}
			db, err = nil, fmt.Errorf("%w: %s: bbolt panicked: %v", ErrCorruptFile, path, r)
		}
	}()
	if info, statErr := os.Stat(path); statErr == nil && info.Size() > 0 {
		if info.Size() > maxFileSize {
			return nil, fmt.Errorf("%w: %s: %d bytes is far beyond what the store writes", ErrCorruptFile, path, info.Size())
		}
		ro, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: lockTimeout, ReadOnly: true})
		if err != nil {
			return nil, classifyOpenErr(path, lockTimeout, err)
		}
		data, err := os.ReadFile(path)
		if err == nil {
			err = verifyFile(data)
		}
		_ = closeQuietly(ro)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, err)
		}
	}
	db, err = bolt.Open(path, fileMode, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, classifyOpenErr(path, lockTimeout, err)
	}
	if err := checkDB(db); err != nil {
		_ = closeQuietly(db)
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, err)
	}
	return db, nil
}

func classifyOpenErr(path string, lockTimeout time.Duration, err error) error {
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%w: %s (waited %v): %v", ErrLocked, path, lockTimeout, err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		// Could not even open(2) the file: permissions, a read-only
		// filesystem. Moving it aside would not help.
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, err)
}

// checkDB runs bbolt's consistency check (freelist, reachability, key order)
// on a file verifyFile already found structurally sound.
func checkDB(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		return first
	})
}

func closeQuietly(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("close panicked: %v", r)
		}
	}()
	return db.Close()
}

// moveAside renames the file to <path>.corrupt-<time>, adding -N if that
// name is taken.
func (s *Store) moveAside() (string, error) {
	base := fmt.Sprintf("%s.corrupt-%s", s.path, s.opts.Clock.Now().UTC().Format("20060102T150405Z"))
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(s.path, name); err != nil {
		return "", err
	}
	return name, nil
}

// NewMem returns a Store kept in memory, with the same behaviour as a file
// store apart from durability. For other packages' tests.
func NewMem(opts Options) *Store {
	opts = opts.withDefaults()
	s := &Store{be: newMemBackend(), opts: opts, log: opts.Logger}
	if err := s.init(); err != nil {
		// Only a crypto/rand failure can get here; there is no file to be
		// corrupt.
		s.log.Error("memory store init failed", "err", err)
	}
	return s
}

// init runs the migrations and makes sure identity exists, in one
// transaction.
func (s *Store) init() error {
	now := s.opts.Clock.Now()
	return s.be.update(func(tx kvTx) error {
		from, err := migrate(tx, migrations, currentSchema, migrateEnv{now: now, installID: newInstallID})
		if err != nil {
			return err
		}
		if from != 0 && from != currentSchema {
			s.log.Info("store schema migrated", "path", s.path, "from", from, "to", currentSchema)
		}
		return s.ensureIdentity(tx, now)
	})
}

func (s *Store) ensureIdentity(tx kvTx, now time.Time) error {
	b := tx.bucket(bucketIdentity)
	var id Identity
	if raw := b.get([]byte(keyIdentity)); raw != nil {
		var err error
		if id, err = decodeIdentity(bucketIdentity+"/"+keyIdentity, raw); err != nil {
			return err
		}
		if s.opts.HardwareID == "" || s.opts.HardwareID == id.HardwareID {
			return nil
		}
		if id.HardwareID != "" {
			s.log.Warn("store was last opened on other hardware", "stored", id.HardwareID, "now", s.opts.HardwareID)
		}
	} else {
		iid, err := newInstallID()
		if err != nil {
			return err
		}
		id = Identity{InstallID: iid, CreatedAt: now}
	}
	id.HardwareID = s.opts.HardwareID
	return putRecord(tx, bucketIdentity, keyIdentity, identityRecord{V: recordVersion, Identity: id})
}

func newInstallID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: install id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Close releases the file and its lock. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.be.close() })
	return s.closeErr
}

// Path is the file path, or "" for a memory store.
func (s *Store) Path() string { return s.path }

// Recovered reports whether Open found the file unusable, moved it aside and
// started fresh, and why (including where the old file went).
func (s *Store) Recovered() (bool, string) { return s.recovered, s.reason }

// SchemaVersion is the schema the file is at (always the current one after a
// successful Open).
func (s *Store) SchemaVersion() (int, error) {
	var m metaRecord
	err := s.view(func(tx kvTx) error {
		var err error
		m, err = readSchema(tx)
		return err
	})
	return m.Schema, err
}

func (s *Store) now() time.Time { return s.opts.Clock.Now() }

// view and update map bbolt's closed-database error to ErrClosed.
func (s *Store) view(fn func(kvTx) error) error {
	return mapClosed(s.be.view(fn))
}

func (s *Store) update(fn func(kvTx) error) error {
	return mapClosed(s.be.update(fn))
}

func mapClosed(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return err
}

// getRecord reads bucket/key and decodes it; found is false when absent.
func getRecord[T any](tx kvTx, bucket, key string, decode func(string, []byte) (T, error)) (v T, found bool, err error) {
	b := tx.bucket(bucket)
	if b == nil {
		return v, false, nil
	}
	raw := b.get([]byte(key))
	if raw == nil {
		return v, false, nil
	}
	v, err = decode(bucket+"/"+key, raw)
	return v, true, err
}
