// Package iodb is a Go binding of iodb, the embedded versioned key-value store with an
// IAVL Merkle layer (include/iodb.h). It is a thin layer over the C API through cgo:
// DB, Batch, Snapshot and Iterator map one to one onto iodb's handles, and every call
// names the C function it makes (README.md has the table).
//
// The header and the library are found through the environment (CGO_CFLAGS=-I...,
// CGO_LDFLAGS=-L... -Wl,-rpath,...) or an installed prefix; see README.md.
package iodb

/*
#cgo LDFLAGS: -liodb
#include "iodbgo.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// HashSize is the size of every root and commit hash (SHA-256).
const HashSize = 32

// Limits of iodb.h.
const (
	MaxKey       = C.IODB_MAX_KEY
	MaxValue     = C.IODB_MAX_VALUE
	MaxVersionID = C.IODB_MAX_VID
	MaxStoreName = C.IODB_MAX_STORE_NAME
)

// HeaderVersion is IODB_VERSION_NUMBER of the header this package was built against.
const HeaderVersion = C.IODB_VERSION_NUMBER

// LibraryVersion is iodb_version(): IODB_VERSION_NUMBER of the library loaded.
func LibraryVersion() int { return int(C.iodb_version()) }

// Options mirrors struct iodb_options. Start from DefaultOptions() (iodb_options_init's
// values): a zero Options is not the defaults (it turns create_if_missing, sync and
// merkle off), exactly as in C. Every field keeps the meaning iodb.h gives it.
type Options struct {
	CreateIfMissing     bool   // create_if_missing (default true)
	Sync                bool   // sync (default true): fdatasync each commit
	KeepVersions        uint32 // keep_versions (default 0 = keep all)
	JournalSegmentBytes uint64 // journal_segment_bytes
	GroupCommitBytes    uint64 // group_commit_bytes

	Merkle        bool   // merkle (default true): IAVL root hashes and proofs
	InitialHeight uint64 // initial_height (default 1)
	MerkleThreads uint32 // merkle_threads

	MemtableBytes   uint64 // memtable_bytes
	BlockCacheBytes uint64 // block_cache_bytes
	BlockBytes      uint32 // block_bytes

	AutoCompaction      bool   // auto_compaction (default true)
	CompactionThreads   uint32 // compaction_threads
	CompactionTaskBytes uint64 // compaction_task_bytes
	ShardMaxBytes       uint64 // shard_max_bytes
	ShardMinBytes       uint64 // shard_min_bytes
	SlowdownRuns        uint32 // slowdown_runs

	SnapshotInterval            uint64   // snapshot_interval
	IncrementalSnapshotInterval uint64   // incremental_snapshot_interval
	IncrementalStores           []string // incremental_stores: nil = every store; non-nil = only these
	SnapshotKeepRecent          uint32   // snapshot_keep_recent
	SnapshotWriterLimit         uint32   // snapshot_writer_limit
	SnapshotReplayOps           uint64   // snapshot_replay_ops

	InitialStores []string // initial_stores: stores mounted at every version ("" = default store)
	ReadOnly      bool     // read_only: a shared, read-only handle
}

// DefaultOptions returns iodb_options_init()'s defaults.
func DefaultOptions() Options {
	var c C.iodb_options
	C.iodb_options_init(&c)
	return Options{
		CreateIfMissing:             c.create_if_missing != 0,
		Sync:                        c.sync != 0,
		KeepVersions:                uint32(c.keep_versions),
		JournalSegmentBytes:         uint64(c.journal_segment_bytes),
		GroupCommitBytes:            uint64(c.group_commit_bytes),
		Merkle:                      c.merkle != 0,
		InitialHeight:               uint64(c.initial_height),
		MerkleThreads:               uint32(c.merkle_threads),
		MemtableBytes:               uint64(c.memtable_bytes),
		BlockCacheBytes:             uint64(c.block_cache_bytes),
		BlockBytes:                  uint32(c.block_bytes),
		AutoCompaction:              c.auto_compaction != 0,
		CompactionThreads:           uint32(c.compaction_threads),
		CompactionTaskBytes:         uint64(c.compaction_task_bytes),
		ShardMaxBytes:               uint64(c.shard_max_bytes),
		ShardMinBytes:               uint64(c.shard_min_bytes),
		SlowdownRuns:                uint32(c.slowdown_runs),
		SnapshotInterval:            uint64(c.snapshot_interval),
		IncrementalSnapshotInterval: uint64(c.incremental_snapshot_interval),
		SnapshotKeepRecent:          uint32(c.snapshot_keep_recent),
		SnapshotWriterLimit:         uint32(c.snapshot_writer_limit),
		SnapshotReplayOps:           uint64(c.snapshot_replay_ops),
		ReadOnly:                    c.read_only != 0,
	}
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// cOptions is a struct iodb_options in C memory with the string arrays it points to.
type cOptions struct {
	o          *C.iodb_options
	incr, init **C.char
	nIncr      int
	nInit      int
}

func strv(names []string) (**C.char, error) {
	if names == nil {
		return nil, nil
	}
	v := C.iodbgo_strv_new(C.size_t(len(names)))
	for i, s := range names {
		if strings.IndexByte(s, 0) >= 0 {
			C.iodbgo_strv_free(v, C.size_t(len(names)))
			return nil, invalid("Open", "store name %q holds a NUL byte", s)
		}
		C.iodbgo_strv_set(v, C.size_t(i), C.CString(s))
	}
	return v, nil
}

func (o *Options) toC() (*cOptions, error) {
	if o == nil {
		return &cOptions{}, nil
	}
	c := (*C.iodb_options)(C.calloc(1, C.size_t(unsafe.Sizeof(C.iodb_options{}))))
	C.iodb_options_init(c)
	c.create_if_missing = cbool(o.CreateIfMissing)
	c.sync = cbool(o.Sync)
	c.keep_versions = C.uint32_t(o.KeepVersions)
	c.journal_segment_bytes = C.uint64_t(o.JournalSegmentBytes)
	c.group_commit_bytes = C.uint64_t(o.GroupCommitBytes)
	c.merkle = cbool(o.Merkle)
	c.initial_height = C.uint64_t(o.InitialHeight)
	c.merkle_threads = C.uint32_t(o.MerkleThreads)
	c.memtable_bytes = C.uint64_t(o.MemtableBytes)
	c.block_cache_bytes = C.uint64_t(o.BlockCacheBytes)
	c.block_bytes = C.uint32_t(o.BlockBytes)
	c.auto_compaction = cbool(o.AutoCompaction)
	c.compaction_threads = C.uint32_t(o.CompactionThreads)
	c.compaction_task_bytes = C.uint64_t(o.CompactionTaskBytes)
	c.shard_max_bytes = C.uint64_t(o.ShardMaxBytes)
	c.shard_min_bytes = C.uint64_t(o.ShardMinBytes)
	c.slowdown_runs = C.uint32_t(o.SlowdownRuns)
	c.snapshot_interval = C.uint64_t(o.SnapshotInterval)
	c.incremental_snapshot_interval = C.uint64_t(o.IncrementalSnapshotInterval)
	c.snapshot_keep_recent = C.uint32_t(o.SnapshotKeepRecent)
	c.snapshot_writer_limit = C.uint32_t(o.SnapshotWriterLimit)
	c.snapshot_replay_ops = C.uint64_t(o.SnapshotReplayOps)
	c.read_only = cbool(o.ReadOnly)
	co := &cOptions{o: c}
	var err error
	if co.incr, err = strv(o.IncrementalStores); err != nil {
		co.free()
		return nil, err
	}
	co.nIncr = len(o.IncrementalStores)
	c.incremental_stores = co.incr
	c.n_incremental_stores = C.uint32_t(co.nIncr)
	if co.init, err = strv(o.InitialStores); err != nil {
		co.free()
		return nil, err
	}
	co.nInit = len(o.InitialStores)
	c.initial_stores = co.init
	c.n_initial_stores = C.uint32_t(co.nInit)
	return co, nil
}

func (co *cOptions) free() {
	C.iodbgo_strv_free(co.incr, C.size_t(co.nIncr))
	C.iodbgo_strv_free(co.init, C.size_t(co.nInit))
	C.free(unsafe.Pointer(co.o))
}

// Store names cross into C as NUL-terminated strings. The default store ("") is NULL; the
// others are kept in a process-wide table (valid names are few and short) up to
// maxCachedNames, past which each call allocates and frees its own copy.
const maxCachedNames = 1024

var (
	cnames  sync.Map // string -> *C.char, never freed
	ncnames int64
)

// cname returns store's C string; release must be called with it after the C call.
func cname(store string) (*C.char, bool, error) {
	if store == "" {
		return nil, false, nil
	}
	if p, ok := cnames.Load(store); ok {
		return p.(*C.char), false, nil
	}
	if strings.IndexByte(store, 0) >= 0 || len(store) > MaxStoreName {
		return nil, false, invalid("", "bad store name %q", store)
	}
	p := C.CString(store)
	if atomic.AddInt64(&ncnames, 1) > maxCachedNames {
		return p, true, nil
	}
	if old, loaded := cnames.LoadOrStore(store, p); loaded {
		C.free(unsafe.Pointer(p))
		return old.(*C.char), false, nil
	}
	return p, false, nil
}

func release(p *C.char, owned bool) {
	if owned {
		C.free(unsafe.Pointer(p))
	}
}

// bytesPtr passes a Go byte slice's memory to C for the duration of a call (cgo pointer
// rules: the memory holds no Go pointers and C does not keep it).
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// takeMsg converts a strdup'ed message and frees it.
func takeMsg(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return s
}

// lastErr builds the error of a failed call from iodb_errmsg(); the caller holds its OS
// thread (runtime.LockOSThread) from the call to here.
func lastErr(op string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return newError(op, rc, C.GoString(C.iodb_errmsg()))
}

// takeBytes copies memory iodb returned into Go and frees it with iodb_free.
func takeBytes(p unsafe.Pointer, n C.size_t) []byte {
	b := C.GoBytes(p, C.int(n))
	C.iodb_free(p)
	return b
}

// DB is an open iodb store (iodb *). It is safe for concurrent use by many goroutines, as
// iodb's handle is. Close it when done; a finalizer closes a forgotten one and logs it.
type DB struct {
	mu       sync.RWMutex // held shared by every call, exclusively by Close
	h        *C.iodb
	dir      string
	readOnly bool
}

// Open opens (and with CreateIfMissing creates) the store in dir (iodb_open). opts nil
// means DefaultOptions().
func Open(dir string, opts *Options) (*DB, error) {
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer co.free()
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var h *C.iodb
	runtime.LockOSThread()
	rc := C.iodb_open(cdir, co.o, &h)
	err = lastErr("Open", rc)
	runtime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	db := &DB{h: h, dir: dir, readOnly: opts != nil && opts.ReadOnly}
	runtime.SetFinalizer(db, func(db *DB) {
		if db.h != nil {
			log.Printf("iodb: DB %q was not closed; closing it in a finalizer", db.dir)
			if err := db.Close(); err != nil {
				log.Printf("iodb: closing DB %q in a finalizer: %v", db.dir, err)
			}
		}
	})
	return db, nil
}

// Dir is the directory the store was opened in.
func (db *DB) Dir() string { return db.dir }

// ReadOnly says whether the store was opened with Options.ReadOnly.
func (db *DB) ReadOnly() bool { return db.readOnly }

// Close closes the store (iodb_close). A second Close returns nil. With snapshots or
// iterators still open it fails with ErrBusy and the DB stays usable.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.h == nil {
		return nil
	}
	runtime.LockOSThread()
	rc := C.iodb_close(db.h)
	err := lastErr("Close", rc)
	runtime.UnlockOSThread()
	if err != nil && rc == C.IODB_EBUSY {
		return err
	}
	db.h = nil
	runtime.SetFinalizer(db, nil)
	return err
}

// acquire takes the shared lock and returns the handle, or ErrClosed.
func (db *DB) acquire() (*C.iodb, error) {
	db.mu.RLock()
	if db.h == nil {
		db.mu.RUnlock()
		return nil, ErrClosed
	}
	return db.h, nil
}

// simple runs a call that returns only a code, with the thread held for its message.
func (db *DB) simple(op string, f func(h *C.iodb) C.int) error {
	h, err := db.acquire()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	rc := f(h)
	err = lastErr(op, rc)
	runtime.UnlockOSThread()
	db.mu.RUnlock()
	return err
}

// Update commits batch b (nil: an empty version) as a new version with ID vid, a child of
// the head (iodb_update). ErrExists if vid names a retained version.
func (db *DB) Update(vid []byte, b *Batch) error {
	h, err := db.acquire()
	if err != nil {
		return err
	}
	var cb *C.iodb_batch
	if b != nil {
		if b.b == nil {
			db.mu.RUnlock()
			return ErrClosed
		}
		cb = b.b
	}
	r := C.iodbgo_update(h, bytesPtr(vid), C.size_t(len(vid)), cb)
	db.mu.RUnlock()
	runtime.KeepAlive(b)
	runtime.KeepAlive(vid)
	if r.rc != 0 {
		return newError("Update", r.rc, takeMsg(r.msg))
	}
	return nil
}

func get(op string, h *C.iodb, s *C.iodb_snapshot, store string, key []byte) ([]byte, error) {
	cs, owned, err := cname(store)
	if err != nil {
		return nil, err
	}
	buf := getBufs.Get().(*[]byte)
	r := C.iodbgo_get_into(h, s, cs, bytesPtr(key), C.size_t(len(key)), bytesPtr(*buf),
		getBufSize)
	release(cs, owned)
	runtime.KeepAlive(key)
	if r.rc != 0 {
		getBufs.Put(buf)
		return nil, newError(op, r.rc, takeMsg(r.msg))
	}
	if r.val == nil { // copied into buf
		v := make([]byte, int(r.vlen))
		copy(v, (*buf)[:r.vlen])
		getBufs.Put(buf)
		return v, nil
	}
	getBufs.Put(buf)
	return takeBytes(r.val, r.vlen), nil
}

// Values up to getBufSize come back through a pooled scratch buffer (one cgo call per
// read); larger ones as iodb's copy (a second call to free it).
const getBufSize = 4096

var getBufs = sync.Pool{New: func() interface{} { b := make([]byte, getBufSize); return &b }}

// Get reads key in store ("" = the default store) at the head (iodb_get). An absent key is
// an error matching ErrNotFound; an empty value is a non-nil empty slice.
func (db *DB) Get(store string, key []byte) ([]byte, error) {
	h, err := db.acquire()
	if err != nil {
		return nil, err
	}
	v, err := get("Get", h, nil, store, key)
	db.mu.RUnlock()
	return v, err
}

// Head returns the head's version ID (iodb_head); ErrNotFound before the first update.
func (db *DB) Head() ([]byte, error) {
	var p unsafe.Pointer
	var n C.size_t
	err := db.simple("Head", func(h *C.iodb) C.int { return C.iodb_head(h, &p, &n) })
	if err != nil {
		return nil, err
	}
	return takeBytes(p, n), nil
}

// Rollback makes vid the head and discards its descendants (iodb_rollback).
func (db *DB) Rollback(vid []byte) error {
	return db.simple("Rollback", func(h *C.iodb) C.int {
		return C.iodb_rollback(h, bytesPtr(vid), C.size_t(len(vid)))
	})
}

// Checkout makes vid the head, discarding nothing (iodb_checkout).
func (db *DB) Checkout(vid []byte) error {
	return db.simple("Checkout", func(h *C.iodb) C.int {
		return C.iodb_checkout(h, bytesPtr(vid), C.size_t(len(vid)))
	})
}

// Clean keeps the head's last keep versions' subtree and discards the rest (iodb_clean).
func (db *DB) Clean(keep uint32) error {
	return db.simple("Clean", func(h *C.iodb) C.int { return C.iodb_clean(h, C.uint32_t(keep)) })
}

// Flush distributes the journal to the shards now (iodb_flush).
func (db *DB) Flush() error {
	return db.simple("Flush", func(h *C.iodb) C.int { return C.iodb_flush(h) })
}

// Sync makes every version committed so far durable: one fdatasync of the journal
// (iodb_sync). For a DB opened with Sync off that needs a durability point.
func (db *DB) Sync() error {
	return db.simple("Sync", func(h *C.iodb) C.int { return C.iodb_sync(h) })
}

// Compact flushes and compacts until no shard is due (iodb_compact).
func (db *DB) Compact() error {
	return db.simple("Compact", func(h *C.iodb) C.int { return C.iodb_compact(h) })
}

// MerkleSnapshot writes a Merkle snapshot of the head now (iodb_merkle_snapshot); full
// false allows an incremental one.
func (db *DB) MerkleSnapshot(full bool) error {
	return db.simple("MerkleSnapshot", func(h *C.iodb) C.int {
		return C.iodb_merkle_snapshot(h, cbool(full))
	})
}

// Stats returns iodb_stats's JSON object.
func (db *DB) Stats() ([]byte, error) {
	var p *C.char
	if err := db.simple("Stats", func(h *C.iodb) C.int { return C.iodb_stats(h, &p) }); err != nil {
		return nil, err
	}
	return takeBytes(unsafe.Pointer(p), C.strlen(p)), nil
}

// StatsMap decodes Stats' JSON.
func (db *DB) StatsMap() (map[string]interface{}, error) {
	js, err := db.Stats()
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("iodb: Stats: %w", err)
	}
	return m, nil
}

// VersionInfo is one retained version as iodb_versions reports it.
type VersionInfo struct {
	ID     []byte
	Parent []byte // nil for the oldest retained version
	Height uint64
}

type walkState struct {
	versions func(VersionInfo) error
	stores   func(StoreInfo) error
	chunk    func([]byte) error
	next     func() ([]byte, error)
	buf      unsafe.Pointer // C memory handed to iodb_import
	bufLen   int
	err      error // the callback's error, returned instead of ErrCanceled
}

// runWalk calls f with a handle to st and returns the callback's error if it stopped the
// call, else the call's own.
func runWalk(op string, st *walkState, f func(h C.uintptr_t) C.int) error {
	hd := cgo.NewHandle(st)
	runtime.LockOSThread()
	rc := f(C.uintptr_t(hd))
	err := lastErr(op, rc)
	runtime.UnlockOSThread()
	hd.Delete()
	if rc == C.IODB_ECANCELED && st.err != nil {
		return st.err
	}
	return err
}

// WalkVersions calls fn for every retained version, parents before children
// (iodb_versions). A non-nil error from fn stops the walk and is returned. fn runs with no
// store lock held and may call the DB, but not Close it.
func (db *DB) WalkVersions(fn func(VersionInfo) error) error {
	h, err := db.acquire()
	if err != nil {
		return err
	}
	defer db.mu.RUnlock()
	return runWalk("Versions", &walkState{versions: fn}, func(hd C.uintptr_t) C.int {
		return C.iodbgo_versions(h, hd)
	})
}

// Versions lists every retained version, parents before children.
func (db *DB) Versions() ([]VersionInfo, error) {
	var out []VersionInfo
	err := db.WalkVersions(func(v VersionInfo) error { out = append(out, v); return nil })
	return out, err
}

// VersionAtHeight returns the ID of the version at height on the head's ancestry
// (iodb_version_at_height).
func (db *DB) VersionAtHeight(height uint64) ([]byte, error) {
	var p unsafe.Pointer
	var n C.size_t
	err := db.simple("VersionAtHeight", func(h *C.iodb) C.int {
		return C.iodb_version_at_height(h, C.uint64_t(height), &p, &n)
	})
	if err != nil {
		return nil, err
	}
	return takeBytes(p, n), nil
}

// StoreInfo is one store of a version's commit hash, as iodb_stores reports it.
type StoreInfo struct {
	Name string // "" for the default store
	Root []byte // its root hash (zeros with the Merkle layer off)
}

// Stores lists the stores of version vid (nil: the head) in name order with their roots
// (iodb_stores).
func (db *DB) Stores(vid []byte) ([]StoreInfo, error) {
	h, err := db.acquire()
	if err != nil {
		return nil, err
	}
	defer db.mu.RUnlock()
	var out []StoreInfo
	st := &walkState{stores: func(s StoreInfo) error { out = append(out, s); return nil }}
	err = runWalk("Stores", st, func(hd C.uintptr_t) C.int {
		return C.iodbgo_stores(h, bytesPtr(vid), C.size_t(len(vid)), hd)
	})
	runtime.KeepAlive(vid)
	if err != nil {
		return nil, err
	}
	return out, nil
}


// RootHash returns store's root hash at version vid (nil: the head) (iodb_root_hash).
func (db *DB) RootHash(vid []byte, store string) ([]byte, error) {
	cs, owned, err := cname(store)
	if err != nil {
		return nil, err
	}
	defer release(cs, owned)
	var hash [HashSize]byte
	err = db.simple("RootHash", func(h *C.iodb) C.int {
		return C.iodb_root_hash(h, bytesPtr(vid), C.size_t(len(vid)), cs, (*C.uint8_t)(unsafe.Pointer(&hash[0])))
	})
	if err != nil {
		return nil, err
	}
	return hash[:], nil
}

// CommitHash returns the Cosmos commit-info hash (app hash) of version vid (nil: the head)
// (iodb_commit_hash).
func (db *DB) CommitHash(vid []byte) ([]byte, error) {
	var hash [HashSize]byte
	err := db.simple("CommitHash", func(h *C.iodb) C.int {
		return C.iodb_commit_hash(h, bytesPtr(vid), C.size_t(len(vid)), (*C.uint8_t)(unsafe.Pointer(&hash[0])))
	})
	if err != nil {
		return nil, err
	}
	return hash[:], nil
}

// Prove returns an ICS23 CommitmentProof (protobuf bytes) of key's presence or absence in
// store at version vid (nil: the head) (iodb_prove).
func (db *DB) Prove(vid []byte, store string, key []byte) ([]byte, error) {
	return db.prove("Prove", vid, store, key, false)
}

// ProveCommit returns a tendermint.crypto.ProofOps proof of key in store up to the commit
// hash of version vid (nil: the head) (iodb_prove_commit).
func (db *DB) ProveCommit(vid []byte, store string, key []byte) ([]byte, error) {
	return db.prove("ProveCommit", vid, store, key, true)
}

func (db *DB) prove(op string, vid []byte, store string, key []byte, commit bool) ([]byte, error) {
	cs, owned, err := cname(store)
	if err != nil {
		return nil, err
	}
	defer release(cs, owned)
	var p unsafe.Pointer
	var n C.size_t
	err = db.simple(op, func(h *C.iodb) C.int {
		if commit {
			return C.iodb_prove_commit(h, bytesPtr(vid), C.size_t(len(vid)), cs,
				bytesPtr(key), C.size_t(len(key)), &p, &n)
		}
		return C.iodb_prove(h, bytesPtr(vid), C.size_t(len(vid)), cs, bytesPtr(key),
			C.size_t(len(key)), &p, &n)
	})
	if err != nil {
		return nil, err
	}
	return takeBytes(p, n), nil
}

func cHash(op string, hash []byte) (*C.uint8_t, error) {
	if len(hash) != HashSize {
		return nil, invalid(op, "a hash is %d bytes, not %d", HashSize, len(hash))
	}
	return (*C.uint8_t)(unsafe.Pointer(&hash[0])), nil
}

// valPtr passes a value, or NULL for value == nil (absence). An empty non-nil value gets
// a non-NULL pointer.
var emptyByte = C.malloc(1)

func valPtr(v []byte) unsafe.Pointer {
	if v == nil {
		return nil
	}
	if len(v) == 0 {
		return emptyByte
	}
	return unsafe.Pointer(&v[0])
}

// VerifyProof checks an ICS23 proof against a store root (iodb_verify_proof): with value
// non-nil that key has value, with value nil that key is absent. nil, or an error matching
// ErrProof (ErrInvalid for bad arguments). Needs no open store.
func VerifyProof(root, proof, key, value []byte) error {
	r, err := cHash("VerifyProof", root)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	rc := C.iodb_verify_proof(r, bytesPtr(proof), C.size_t(len(proof)), bytesPtr(key),
		C.size_t(len(key)), valPtr(value), C.size_t(len(value)))
	err = lastErr("VerifyProof", rc)
	runtime.UnlockOSThread()
	runtime.KeepAlive(root)
	runtime.KeepAlive(proof)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return err
}

// VerifyCommitProof checks a ProveCommit proof against a commit hash
// (iodb_verify_commit_proof); value nil checks absence.
func VerifyCommitProof(commitHash, proof []byte, store string, key, value []byte) error {
	r, err := cHash("VerifyCommitProof", commitHash)
	if err != nil {
		return err
	}
	cs, owned, err := cname(store)
	if err != nil {
		return err
	}
	defer release(cs, owned)
	runtime.LockOSThread()
	rc := C.iodb_verify_commit_proof(r, bytesPtr(proof), C.size_t(len(proof)), cs,
		bytesPtr(key), C.size_t(len(key)), valPtr(value), C.size_t(len(value)))
	err = lastErr("VerifyCommitProof", rc)
	runtime.UnlockOSThread()
	runtime.KeepAlive(commitHash)
	runtime.KeepAlive(proof)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return err
}

// ExportFunc streams version vid (nil: the head) as a state-sync stream through fn in
// chunks of about 256 KiB (iodb_export). The chunk is valid during the call only. A
// non-nil error from fn stops the export and is returned.
func (db *DB) ExportFunc(vid []byte, fn func(chunk []byte) error) error {
	h, err := db.acquire()
	if err != nil {
		return err
	}
	defer db.mu.RUnlock()
	err = runWalk("Export", &walkState{chunk: fn}, func(hd C.uintptr_t) C.int {
		return C.iodbgo_export(h, bytesPtr(vid), C.size_t(len(vid)), hd)
	})
	runtime.KeepAlive(vid)
	return err
}

// Export writes version vid's state-sync stream to w.
func (db *DB) Export(vid []byte, w io.Writer) error {
	return db.ExportFunc(vid, func(c []byte) error { _, err := w.Write(c); return err })
}

const importBuf = 256 << 10

// ImportFunc rebuilds a store in dir (missing or empty) from a stream whose chunks next
// returns in order (iodb_import); next returns io.EOF (or an empty chunk) at the end. Every
// hash is checked; unless the commit hash comes out as commitHash, an error matching
// ErrProof and nothing is written. opts may be nil.
func ImportFunc(dir string, opts *Options, commitHash []byte, next func() ([]byte, error)) error {
	r, err := cHash("Import", commitHash)
	if err != nil {
		return err
	}
	co, err := opts.toC()
	if err != nil {
		return err
	}
	defer co.free()
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	st := &walkState{next: next}
	defer func() {
		if st.buf != nil {
			C.free(st.buf)
		}
	}()
	err = runWalk("Import", st, func(hd C.uintptr_t) C.int {
		return C.iodbgo_import(cdir, co.o, r, hd)
	})
	runtime.KeepAlive(commitHash)
	return err
}

// Import rebuilds a store in dir from the stream r (as Export wrote it).
func Import(dir string, opts *Options, commitHash []byte, r io.Reader) error {
	buf := make([]byte, importBuf)
	return ImportFunc(dir, opts, commitHash, func() ([]byte, error) {
		for {
			n, err := r.Read(buf)
			if n > 0 {
				return buf[:n], nil
			}
			if err != nil {
				return nil, err
			}
		}
	})
}
