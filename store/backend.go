package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// backend is the small key/value surface the store needs. Two implementations:
// boltBackend (the real file) and memBackend (tests of other packages). All
// record logic lives above it, so both behave the same.
type backend interface {
	view(fn func(tx kvTx) error) error
	update(fn func(tx kvTx) error) error
	close() error
}

// kvTx is one transaction. Byte slices returned by buckets are only valid until
// the transaction ends, as in bbolt.
type kvTx interface {
	bucket(name string) kvBucket // nil when the bucket does not exist
	createBucket(name string) (kvBucket, error)
	deleteBucket(name string) error
	bucketNames() []string
}

type kvBucket interface {
	get(key []byte) []byte
	put(key, value []byte) error
	del(key []byte) error
	nextSequence() (uint64, error)
	// forEach visits keys in ascending byte order.
	forEach(fn func(k, v []byte) error) error
	// tail visits up to the last n keys, in ascending order.
	tail(n int, fn func(k, v []byte) error) error
	// firstKeys returns up to n keys from the start, copied.
	firstKeys(n int) [][]byte
}

// ---- bbolt ----

type boltBackend struct{ db *bolt.DB }

func (b boltBackend) view(fn func(kvTx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b boltBackend) update(fn func(kvTx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b boltBackend) close() error { return b.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) bucket(name string) kvBucket {
	b := t.tx.Bucket([]byte(name))
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func (t boltTx) createBucket(name string) (kvBucket, error) {
	b, err := t.tx.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, err
	}
	return boltBucket{b}, nil
}

func (t boltTx) deleteBucket(name string) error {
	err := t.tx.DeleteBucket([]byte(name))
	if errors.Is(err, bolt.ErrBucketNotFound) {
		return nil
	}
	return err
}

func (t boltTx) bucketNames() []string {
	var names []string
	_ = t.tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, string(name))
		return nil
	})
	return names
}

type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) get(key []byte) []byte                    { return b.b.Get(key) }
func (b boltBucket) put(key, value []byte) error              { return b.b.Put(key, value) }
func (b boltBucket) del(key []byte) error                     { return b.b.Delete(key) }
func (b boltBucket) nextSequence() (uint64, error)            { return b.b.NextSequence() }
func (b boltBucket) forEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }

func (b boltBucket) tail(n int, fn func(k, v []byte) error) error {
	if n <= 0 {
		return nil
	}
	c := b.b.Cursor()
	k, _ := c.Last()
	if k == nil {
		return nil
	}
	for i := 1; i < n; i++ {
		pk, _ := c.Prev()
		if pk == nil {
			k, _ = c.First()
			break
		}
		k = pk
	}
	for k, v := c.Seek(k); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (b boltBucket) firstKeys(n int) [][]byte {
	var keys [][]byte
	c := b.b.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < n; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// ---- memory ----

// memBackend keeps buckets in maps behind one lock. update works on a copy and
// swaps it in only when fn succeeds, which gives the same all-or-nothing
// behaviour as a bbolt transaction. Copying is O(size) per write: fine for
// tests, which is all it is for.
type memBackend struct {
	mu      sync.RWMutex // guards buckets and closed
	buckets map[string]*memBucket
	closed  bool
}

type memBucket struct {
	kv   map[string][]byte
	keys []string // sorted byte-wise, as bbolt iterates
	seq  uint64
}

func newMemBackend() *memBackend { return &memBackend{buckets: map[string]*memBucket{}} }

func (m *memBackend) view(fn func(kvTx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(&memTx{buckets: m.buckets, readOnly: true})
}

func (m *memBackend) update(fn func(kvTx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	cp := make(map[string]*memBucket, len(m.buckets))
	for name, b := range m.buckets {
		nb := &memBucket{kv: make(map[string][]byte, len(b.kv)), keys: slices.Clone(b.keys), seq: b.seq}
		for k, v := range b.kv {
			nb.kv[k] = v // values are never mutated in place, sharing is safe
		}
		cp[name] = nb
	}
	if err := fn(&memTx{buckets: cp}); err != nil {
		return err
	}
	m.buckets = cp
	return nil
}

func (m *memBackend) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

type memTx struct {
	buckets  map[string]*memBucket
	readOnly bool
}

var errMemReadOnly = fmt.Errorf("%w: write in a read transaction", ErrInvalid)

func (t *memTx) bucket(name string) kvBucket {
	b, ok := t.buckets[name]
	if !ok {
		return nil
	}
	return memBucketTx{b: b, readOnly: t.readOnly}
}

func (t *memTx) createBucket(name string) (kvBucket, error) {
	if t.readOnly {
		return nil, errMemReadOnly
	}
	b, ok := t.buckets[name]
	if !ok {
		b = &memBucket{kv: map[string][]byte{}}
		t.buckets[name] = b
	}
	return memBucketTx{b: b}, nil
}

func (t *memTx) deleteBucket(name string) error {
	if t.readOnly {
		return errMemReadOnly
	}
	delete(t.buckets, name)
	return nil
}

func (t *memTx) bucketNames() []string {
	names := make([]string, 0, len(t.buckets))
	for n := range t.buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type memBucketTx struct {
	b        *memBucket
	readOnly bool
}

func (b memBucketTx) get(key []byte) []byte { return b.b.kv[string(key)] }

func (b memBucketTx) put(key, value []byte) error {
	if b.readOnly {
		return errMemReadOnly
	}
	if len(key) == 0 {
		return bolt.ErrKeyRequired
	}
	k := string(key)
	if _, ok := b.b.kv[k]; !ok {
		i, _ := slices.BinarySearch(b.b.keys, k)
		b.b.keys = slices.Insert(b.b.keys, i, k)
	}
	b.b.kv[k] = bytes.Clone(value)
	return nil
}

func (b memBucketTx) del(key []byte) error {
	if b.readOnly {
		return errMemReadOnly
	}
	k := string(key)
	if _, ok := b.b.kv[k]; ok {
		i, _ := slices.BinarySearch(b.b.keys, k)
		b.b.keys = slices.Delete(b.b.keys, i, i+1)
		delete(b.b.kv, k)
	}
	return nil
}

func (b memBucketTx) nextSequence() (uint64, error) {
	if b.readOnly {
		return 0, errMemReadOnly
	}
	b.b.seq++
	return b.b.seq, nil
}

// sortedKeys is the bucket's key list; Go string order is byte order, as in
// bbolt. Callers only read it.
func (b memBucketTx) sortedKeys() []string { return b.b.keys }

func (b memBucketTx) forEach(fn func(k, v []byte) error) error {
	for _, k := range b.sortedKeys() {
		if err := fn([]byte(k), b.b.kv[k]); err != nil {
			return err
		}
	}
	return nil
}

func (b memBucketTx) tail(n int, fn func(k, v []byte) error) error {
	if n <= 0 {
		return nil
	}
	keys := b.sortedKeys()
	if len(keys) > n {
		keys = keys[len(keys)-n:]
	}
	for _, k := range keys {
		if err := fn([]byte(k), b.b.kv[k]); err != nil {
			return err
		}
	}
	return nil
}

func (b memBucketTx) firstKeys(n int) [][]byte {
	keys := b.sortedKeys()
	if len(keys) > n {
		keys = keys[:n]
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}
