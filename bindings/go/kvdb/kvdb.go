// Package kvdb is a cometbft-db-style key-value store over iodb: DB has the method set of
// cometbft-db's DB interface (Get, Has, Set, SetSync, Delete, DeleteSync, Iterator,
// ReverseIterator, Close, NewBatch, Print, Stats, Compact) and its Batch and Iterator the
// method sets of that package's Batch and Iterator, so an application can plug it in
// where a db.DB is expected (without this package importing cometbft-db).
//
// The mapping onto iodb's versions: every Set or Delete outside a batch, and every
// Batch.Write of a non-empty batch, commits one iodb version. Version IDs are generated
// (8-byte big-endian sequence numbers); Options.KeepVersions (default 1) keeps that many
// versions, so history does not grow unless asked for. README.md gives the cost.
package kvdb

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"iodb.dev/iodb"
)

// The errors cometbft-db's backends return, with its messages.
var (
	ErrBatchClosed = errors.New("batch has been written or closed")
	ErrKeyEmpty    = errors.New("key cannot be empty")
	ErrValueNil    = errors.New("value cannot be nil")
)

// Iterator is cometbft-db's Iterator interface (the same method set).
type Iterator interface {
	Domain() (start []byte, end []byte)
	Valid() bool
	Next()
	Key() (key []byte)
	Value() (value []byte)
	Error() error
	Close() error
}

// Batch is cometbft-db's Batch interface (the same method set).
type Batch interface {
	Set(key, value []byte) error
	Delete(key []byte) error
	Write() error
	WriteSync() error
	Close() error
}

// Options of Open.
type Options struct {
	// Store is the iodb store (key space) used; "" is the default store.
	Store string
	// KeepVersions is how many versions iodb keeps (iodb's keep_versions): 0 means 1 here
	// (a plain key-value store); set it higher to keep history readable through Iodb().
	KeepVersions uint32
	// Sync: every write is fdatasynced (Set costs what SetSync does). Without it, Set and
	// Write return before the fsync and SetSync, DeleteSync and WriteSync call iodb_sync
	// (one fdatasync), which makes everything before them durable.
	Sync bool
	// Merkle keeps the IAVL layer on (root hashes and proofs for every version); off by
	// default, as cometbft-db has none.
	Merkle bool
	// IodbOptions, if set, is the starting point (else iodb.DefaultOptions()).
	IodbOptions *iodb.Options
}

// DB is a cometbft-db-style DB over iodb. Safe for concurrent use.
type DB struct {
	idb   *iodb.DB
	store string
	sync  bool
	mu    sync.Mutex // serialises the ID sequence with the update it names
	seq   uint64
}

// Open opens (creating if missing) the store in dir.
func Open(dir string, opts Options) (*DB, error) {
	o := iodb.DefaultOptions()
	if opts.IodbOptions != nil {
		o = *opts.IodbOptions
	}
	o.CreateIfMissing = true
	o.KeepVersions = opts.KeepVersions
	if o.KeepVersions == 0 {
		o.KeepVersions = 1
	}
	o.Sync = opts.Sync
	o.Merkle = opts.Merkle
	idb, err := iodb.Open(dir, &o)
	if err != nil {
		return nil, err
	}
	db := &DB{idb: idb, store: opts.Store, sync: opts.Sync}
	// The next ID is above every retained one (they are all from this sequence, or at
	// least no larger than the heights).
	err = idb.WalkVersions(func(v iodb.VersionInfo) error {
		if v.Height > db.seq {
			db.seq = v.Height
		}
		if len(v.ID) == 8 {
			if n := binary.BigEndian.Uint64(v.ID); n > db.seq {
				db.seq = n
			}
		}
		return nil
	})
	if err != nil {
		idb.Close()
		return nil, err
	}
	return db, nil
}

// Iodb returns the underlying store.
func (db *DB) Iodb() *iodb.DB { return db.idb }

// Get returns key's value, or nil if absent.
func (db *DB) Get(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, ErrKeyEmpty
	}
	v, err := db.idb.Get(db.store, key)
	if errors.Is(err, iodb.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Has says whether key is present.
func (db *DB) Has(key []byte) (bool, error) {
	v, err := db.Get(key)
	return v != nil, err
}

// commit writes b as one new version.
func (db *DB) commit(b *iodb.Batch, durable bool) error {
	db.mu.Lock()
	db.seq++
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], db.seq)
	err := db.idb.Update(id[:], b)
	db.mu.Unlock()
	if err == nil && durable && !db.sync {
		err = db.idb.Sync()
	}
	return err
}

func (db *DB) write(del bool, key, value []byte, durable bool) error {
	if len(key) == 0 {
		return ErrKeyEmpty
	}
	if !del && value == nil {
		return ErrValueNil
	}
	b := iodb.NewBatch()
	defer b.Close()
	var err error
	if del {
		err = b.Delete(db.store, key)
	} else {
		err = b.Put(db.store, key, value)
	}
	if err != nil {
		return err
	}
	return db.commit(b, durable)
}

// Set sets key to value (one version).
func (db *DB) Set(key, value []byte) error { return db.write(false, key, value, false) }

// SetSync sets key to value and makes it durable before returning.
func (db *DB) SetSync(key, value []byte) error { return db.write(false, key, value, true) }

// Delete deletes key (one version; deleting an absent key is fine).
func (db *DB) Delete(key []byte) error { return db.write(true, key, nil, false) }

// DeleteSync deletes key durably.
func (db *DB) DeleteSync(key []byte) error { return db.write(true, key, nil, true) }

func (db *DB) iter(start, end []byte, reverse bool) (Iterator, error) {
	if (start != nil && len(start) == 0) || (end != nil && len(end) == 0) {
		return nil, ErrKeyEmpty
	}
	it, err := db.idb.Iterator(iodb.IterOptions{Store: db.store, Start: start, End: end, Reverse: reverse})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return it, nil
}

// Iterator iterates [start, end) ascending (nil start: from the first key; nil end: to the
// last). It reads the version that was the head when it was opened, so writes during the
// iteration are allowed and not seen. Close it before the DB.
func (db *DB) Iterator(start, end []byte) (Iterator, error) { return db.iter(start, end, false) }

// ReverseIterator iterates [start, end) descending.
func (db *DB) ReverseIterator(start, end []byte) (Iterator, error) {
	return db.iter(start, end, true)
}

// Close closes the DB (iterators must be closed first). A second Close returns nil.
func (db *DB) Close() error { return db.idb.Close() }

// NewBatch returns a batch; Write commits it as one version.
func (db *DB) NewBatch() Batch { return &batch{db: db, b: iodb.NewBatch()} }

// Print prints every key and value in hex, as cometbft-db's MemDB does.
func (db *DB) Print() error {
	it, err := db.Iterator(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		fmt.Printf("[%X]:\t[%X]\n", it.Key(), it.Value())
	}
	return it.Error()
}

// Stats returns iodb's statistics flattened: "journal.bytes" -> "166".
func (db *DB) Stats() map[string]string {
	out := map[string]string{}
	js, err := db.idb.Stats()
	if err != nil {
		out["error"] = err.Error()
		return out
	}
	var m map[string]interface{}
	if err := json.Unmarshal(js, &m); err != nil {
		out["error"] = err.Error()
		return out
	}
	flatten("", m, out)
	return out
}

func flatten(prefix string, m map[string]interface{}, out map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := m[k].(type) {
		case map[string]interface{}:
			flatten(name, v, out)
		default:
			b, _ := json.Marshal(v)
			out[name] = string(b)
		}
	}
}

// Compact compacts the whole store (iodb_compact); start and end are ignored.
func (db *DB) Compact(start, end []byte) error { return db.idb.Compact() }

type batch struct {
	db *DB
	b  *iodb.Batch // nil once written or closed
}

func (b *batch) Set(key, value []byte) error {
	if len(key) == 0 {
		return ErrKeyEmpty
	}
	if value == nil {
		return ErrValueNil
	}
	if b.b == nil {
		return ErrBatchClosed
	}
	return b.b.Put(b.db.store, key, value)
}

func (b *batch) Delete(key []byte) error {
	if len(key) == 0 {
		return ErrKeyEmpty
	}
	if b.b == nil {
		return ErrBatchClosed
	}
	return b.b.Delete(b.db.store, key)
}

func (b *batch) write(durable bool) error {
	if b.b == nil {
		return ErrBatchClosed
	}
	var err error
	if b.b.Len() > 0 {
		err = b.db.commit(b.b, durable)
	}
	b.Close()
	return err
}

// Write commits the batch as one version (an empty batch commits nothing). Only Close may
// follow.
func (b *batch) Write() error { return b.write(false) }

// WriteSync is Write, durable before returning.
func (b *batch) WriteSync() error { return b.write(true) }

// Close frees the batch; idempotent.
func (b *batch) Close() error {
	if b.b != nil {
		b.b.Close()
		b.b = nil
	}
	return nil
}
