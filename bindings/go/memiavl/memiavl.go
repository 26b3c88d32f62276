// Package memiavl is a memiavl-style multi-store (sei-db sc/memiavl) over iodb: named
// IAVL trees that share one version number, changesets applied per block, Commit
// returning the version (the height) and the commit hash (the app hash), trees read,
// iterated and proven by name, older versions loaded read-only, rollback, and state sync
// through iodb's export stream.
//
// Each committed version is one iodb version whose ID is the height in decimal ASCII
// ("1", "2", ...). README.md lists every difference from memiavl.
package memiavl

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strconv"
	"sync"

	"iodb.dev/iodb"
)

// KVPair is one change: a set of Key to Value, or with Delete a removal of Key.
type KVPair struct {
	Delete bool
	Key    []byte
	Value  []byte
}

// ChangeSet is one tree's changes of a version, applied in order (IAVL's shape depends on
// the order).
type ChangeSet struct {
	Pairs []*KVPair
}

// NamedChangeSet is the changeset of the tree Name.
type NamedChangeSet struct {
	Name      string
	Changeset ChangeSet
}

// CommitID is a tree's version and root hash.
type CommitID struct {
	Version int64
	Hash    []byte
}

// StoreInfo is one tree of a commit.
type StoreInfo struct {
	Name     string
	CommitId CommitID //nolint:revive // memiavl's (gogoproto's) spelling
}

// CommitInfo is a version and its trees in name order, as the Cosmos SDK's.
type CommitInfo struct {
	Version    int64
	StoreInfos []StoreInfo
}

// Hash computes the commit-info hash (the app hash) from the store infos as the Cosmos SDK
// does: a CometBFT simple Merkle tree over the leaves uvarint(len name) || name || 0x20 ||
// SHA256(root), in name order; SHA256("") for none. It equals iodb's commit hash.
func (ci *CommitInfo) Hash() []byte {
	infos := append([]StoreInfo(nil), ci.StoreInfos...)
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	leaves := make([][]byte, len(infos))
	for i, s := range infos {
		var l []byte
		l = binary.AppendUvarint(l, uint64(len(s.Name)))
		l = append(l, s.Name...)
		rh := sha256.Sum256(s.CommitId.Hash)
		l = append(l, 32)
		l = append(l, rh[:]...)
		leaves[i] = l
	}
	return simpleMerkle(leaves)
}

func simpleMerkle(items [][]byte) []byte {
	switch len(items) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		h := sha256.Sum256(append([]byte{0}, items[0]...))
		return h[:]
	}
	k := 1 << (bits.Len(uint(len(items)-1)) - 1) // the largest power of 2 below n
	l, r := simpleMerkle(items[:k]), simpleMerkle(items[k:])
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// Options of OpenDB, named as memiavl's where they mean the same.
type Options struct {
	Dir             string
	CreateIfMissing bool
	// InitialVersion is the first version's number (iavl's InitialVersion): 0 or 1 mean 1.
	InitialVersion uint32
	ReadOnly       bool
	// InitialStores are the trees mounted from the first version on.
	InitialStores []string
	// SnapshotKeepRecent and SnapshotInterval tune iodb's Merkle snapshots (0: iodb's
	// defaults). iodb's snapshots are internal: they bound open time, not what can be read.
	SnapshotKeepRecent uint32
	SnapshotInterval   uint32
	// LoadForOverwriting: OpenDB with a targetVersion rolls the store back to it.
	LoadForOverwriting bool
	// Not in memiavl. KeepVersions > 0 keeps only the last N versions (iodb's
	// keep_versions); 0 keeps all. Sync false skips the fdatasync of each commit.
	KeepVersions uint32
	NoSync       bool
	// IodbOptions, if set, is the starting point for the iodb options (else
	// iodb.DefaultOptions()); the fields above override it.
	IodbOptions *iodb.Options
}

var errReadOnly = errors.New("memiavl: read-only mode")

// DB is a memiavl-style multi-store. Its methods are safe for concurrent use (one mutex,
// as memiavl's DB); trees read the store directly.
type DB struct {
	mu       sync.Mutex
	idb      *iodb.DB
	own      bool          // idb is closed by Close (false for a LoadVersion view)
	snap     *iodb.Snapshot // non-nil: a read-only view of one version
	readOnly bool
	opts     Options
	known    map[string]bool // trees that exist or are mounted
	pending  []*NamedChangeSet
	upgrades []string // trees to add at the next commit
	staged   bool     // the pending version is committed in iodb (WorkingHash) but not sealed
	lastInfo CommitInfo
	initial  int64
}

// OpenDB opens the store in opts.Dir. targetVersion 0 opens the latest version; > 0 with
// LoadForOverwriting rolls back to that version, else opens a read-only view of it.
func OpenDB(targetVersion int64, opts Options) (*DB, error) {
	if opts.ReadOnly && opts.CreateIfMissing {
		return nil, errors.New("memiavl: can't create db in read-only mode")
	}
	if opts.ReadOnly && opts.LoadForOverwriting {
		return nil, errors.New("memiavl: can't rollback db in read-only mode")
	}
	o := iodb.DefaultOptions()
	if opts.IodbOptions != nil {
		o = *opts.IodbOptions
	}
	o.CreateIfMissing = opts.CreateIfMissing
	o.ReadOnly = opts.ReadOnly
	o.Merkle = true
	o.InitialHeight = uint64(opts.InitialVersion)
	if o.InitialHeight == 0 {
		o.InitialHeight = 1
	}
	o.InitialStores = opts.InitialStores
	if opts.SnapshotKeepRecent > 0 {
		o.SnapshotKeepRecent = opts.SnapshotKeepRecent
	}
	if opts.SnapshotInterval > 0 {
		o.SnapshotInterval = uint64(opts.SnapshotInterval)
	}
	o.KeepVersions = opts.KeepVersions
	o.Sync = !opts.NoSync
	idb, err := iodb.Open(opts.Dir, &o)
	if err != nil {
		return nil, err
	}
	db := &DB{idb: idb, own: true, readOnly: opts.ReadOnly, opts: opts, initial: int64(o.InitialHeight)}
	if err := db.load(); err != nil {
		idb.Close()
		return nil, err
	}
	if targetVersion > 0 && targetVersion != db.lastInfo.Version {
		if opts.LoadForOverwriting {
			err = db.RollbackTo(targetVersion)
		} else {
			var v *DB
			v, err = db.LoadVersion(targetVersion)
			if err == nil {
				v.own = true // the view closes the store
				return v, nil
			}
		}
		if err != nil {
			idb.Close()
			return nil, err
		}
	}
	return db, nil
}

func vidOf(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }

// load reads the last commit info and the known trees from the store's head (or view).
func (db *DB) load() error {
	db.known = map[string]bool{"": true}
	for _, s := range db.opts.InitialStores {
		db.known[s] = true
	}
	var (
		stores []iodb.StoreInfo
		height uint64
		err    error
	)
	if db.snap != nil {
		_, height, err = db.snap.Version()
		if err != nil {
			return err
		}
		stores, err = db.snap.Stores() // the pinned version's, whatever its ID now names
	} else {
		s, err2 := db.idb.Snapshot(nil)
		if errors.Is(err2, iodb.ErrNotFound) { // no version yet
			db.lastInfo = CommitInfo{}
			return nil
		}
		if err2 != nil {
			return err2
		}
		_, height, err = s.Version()
		if errors.Is(err, iodb.ErrNotFound) { // no version yet
			s.Close()
			db.lastInfo = CommitInfo{}
			return nil
		}
		if err == nil {
			stores, err = db.idb.Stores(nil)
		}
		s.Close()
	}
	if err != nil {
		return err
	}
	db.lastInfo = commitInfo(int64(height), stores)
	for _, s := range stores {
		db.known[s.Name] = true
	}
	return nil
}

func commitInfo(version int64, stores []iodb.StoreInfo) CommitInfo {
	ci := CommitInfo{Version: version}
	for _, s := range stores {
		ci.StoreInfos = append(ci.StoreInfos, StoreInfo{Name: s.Name, CommitId: CommitID{Version: version, Hash: s.Root}})
	}
	return ci
}

// ReadOnly says whether the DB refuses writes (opened read-only, or a LoadVersion view).
func (db *DB) ReadOnly() bool { return db.readOnly }

// Iodb returns the underlying store, for what this package does not wrap.
func (db *DB) Iodb() *iodb.DB { return db.idb }

// SetInitialVersion sets the first version's number; only before the first commit. The
// store is reopened with the new initial height.
func (db *DB) SetInitialVersion(initialVersion int64) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return errReadOnly
	}
	if db.lastInfo.Version > 0 || db.staged {
		return errors.New("memiavl: initial version can only be set before any commit")
	}
	if initialVersion < 1 || initialVersion > int64(^uint32(0)) {
		return fmt.Errorf("memiavl: initial version %d out of range", initialVersion)
	}
	opts := db.opts
	opts.InitialVersion = uint32(initialVersion)
	opts.CreateIfMissing = true
	if err := db.idb.Close(); err != nil {
		return err
	}
	n, err := OpenDB(0, opts)
	if err != nil {
		return err
	}
	db.idb, db.opts, db.initial = n.idb, opts, initialVersion
	return nil
}

// ApplyUpgrades adds trees (TreeNameUpgrade with only Name set). Renames and deletes are
// not supported by iodb and are refused.
func (db *DB) ApplyUpgrades(upgrades []*TreeNameUpgrade) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return errReadOnly
	}
	if db.staged {
		return errStaged
	}
	for _, u := range upgrades {
		if u.RenameFrom != "" || u.Delete {
			return fmt.Errorf("memiavl: upgrade of %q: renaming and deleting trees is not supported", u.Name)
		}
	}
	for _, u := range upgrades {
		if !db.known[u.Name] {
			db.known[u.Name] = true
			db.upgrades = append(db.upgrades, u.Name)
		}
	}
	return nil
}

// TreeNameUpgrade is memiavl's upgrade record; only additions are supported.
type TreeNameUpgrade struct {
	Name       string
	RenameFrom string
	Delete     bool
}

var errStaged = errors.New("memiavl: the working version was already hashed (WorkingHash/WorkingCommitInfo); Commit it first")

// ApplyChangeSets queues the changesets of the working version. As in memiavl, only one
// call per version, and every name must be a known tree (mounted, written before, or
// added by ApplyUpgrades).
func (db *DB) ApplyChangeSets(changeSets []*NamedChangeSet) error {
	if len(changeSets) == 0 {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return errReadOnly
	}
	if db.staged {
		return errStaged
	}
	if len(db.pending) > 0 {
		return errors.New("memiavl: don't support multiple ApplyChangeSets calls in the same version")
	}
	for _, cs := range changeSets {
		if !db.known[cs.Name] {
			return fmt.Errorf("memiavl: unknown tree name %s", cs.Name)
		}
	}
	db.pending = append(db.pending, changeSets...)
	return nil
}

// ApplyChangeSet queues one tree's changeset of the working version (once per name).
func (db *DB) ApplyChangeSet(name string, changeSet ChangeSet) error {
	if len(changeSet.Pairs) == 0 {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return errReadOnly
	}
	if db.staged {
		return errStaged
	}
	if !db.known[name] {
		return fmt.Errorf("memiavl: unknown tree name %s", name)
	}
	for _, cs := range db.pending {
		if cs.Name == name {
			return errors.New("memiavl: don't support multiple ApplyChangeSet calls with the same name in the same version")
		}
	}
	db.pending = append(db.pending, &NamedChangeSet{Name: name, Changeset: changeSet})
	sort.SliceStable(db.pending, func(i, j int) bool { return db.pending[i].Name < db.pending[j].Name })
	return nil
}

// stage commits the working version to iodb (the changesets in order, one iodb version)
// unless it already is.
func (db *DB) stage() error {
	if db.staged {
		return nil
	}
	b := iodb.NewBatch()
	defer b.Close()
	for _, name := range db.upgrades {
		// A store exists from its first write: a delete of a key it cannot hold yet
		// creates it empty (the tree is unchanged by a delete of an absent key).
		if err := b.Delete(name, []byte{0}); err != nil {
			return err
		}
	}
	for _, cs := range db.pending {
		for _, p := range cs.Changeset.Pairs {
			var err error
			if p.Delete {
				err = b.Delete(cs.Name, p.Key)
			} else {
				v := p.Value
				if v == nil {
					v = []byte{}
				}
				err = b.Put(cs.Name, p.Key, v)
			}
			if err != nil {
				return fmt.Errorf("memiavl: tree %q: %w", cs.Name, err)
			}
		}
	}
	if err := db.idb.Update(vidOf(db.nextVersion()), b); err != nil {
		return err
	}
	db.staged = true
	return nil
}

func (db *DB) nextVersion() int64 {
	if db.lastInfo.Version == 0 {
		return db.initial
	}
	return db.lastInfo.Version + 1
}

func (db *DB) workingInfo() (CommitInfo, error) {
	if err := db.stage(); err != nil {
		return CommitInfo{}, err
	}
	v := db.nextVersion()
	stores, err := db.idb.Stores(vidOf(v))
	if err != nil {
		return CommitInfo{}, err
	}
	return commitInfo(v, stores), nil
}

// WorkingCommitInfo returns the commit info the working version will have. iodb hashes
// only committed versions, so this commits the working version to the store (the later
// Commit seals it); ApplyChangeSets is refused from here to Commit.
func (db *DB) WorkingCommitInfo() (*CommitInfo, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return nil, errReadOnly
	}
	ci, err := db.workingInfo()
	if err != nil {
		return nil, err
	}
	return &ci, nil
}

// WorkingHash returns the working version's commit hash (the app hash), as
// WorkingCommitInfo (it commits the working version to the store).
func (db *DB) WorkingHash() ([]byte, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return nil, errReadOnly
	}
	if err := db.stage(); err != nil {
		return nil, err
	}
	return db.idb.CommitHash(vidOf(db.nextVersion()))
}

// Commit commits the working version (the pending changesets, possibly none) and returns
// its version (the height) and commit hash (the app hash).
func (db *DB) Commit() (int64, []byte, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return 0, nil, errReadOnly
	}
	ci, err := db.workingInfo()
	if err != nil {
		return 0, nil, err
	}
	hash, err := db.idb.CommitHash(vidOf(ci.Version))
	if err != nil {
		return 0, nil, err
	}
	db.lastInfo = ci
	db.pending, db.upgrades, db.staged = nil, nil, false
	for _, s := range ci.StoreInfos {
		db.known[s.Name] = true
	}
	return ci.Version, hash, nil
}

// Version is the last committed version (0 before the first commit).
func (db *DB) Version() int64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.lastInfo.Version
}

// LastCommitInfo is the last committed version's commit info.
func (db *DB) LastCommitInfo() *CommitInfo {
	db.mu.Lock()
	defer db.mu.Unlock()
	ci := db.lastInfo
	return &ci
}

// LastCommitHash is the last committed version's commit hash (SHA256("") before any).
func (db *DB) LastCommitHash() ([]byte, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.lastInfo.Version == 0 {
		return db.lastInfo.Hash(), nil
	}
	if db.snap != nil {
		return db.snap.CommitHash()
	}
	return db.idb.CommitHash(vidOf(db.lastInfo.Version))
}

// TreeByName returns the tree name at the last committed version (the view's version for a
// LoadVersion view), or nil if there is no such tree. It reads what is committed: changes
// queued by ApplyChangeSets are not visible until Commit (or WorkingHash).
func (db *DB) TreeByName(name string) *Tree {
	db.mu.Lock()
	defer db.mu.Unlock()
	if !db.known[name] {
		return nil
	}
	return &Tree{db: db, name: name}
}

// TreeNames lists the trees at the last committed version, in name order.
func (db *DB) TreeNames() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []string
	for _, s := range db.lastInfo.StoreInfos {
		out = append(out, s.Name)
	}
	return out
}

// LoadVersion returns a read-only view of version v (a height on the head's ancestry),
// backed by an iodb snapshot: it keeps reading that version even if this DB rolls back.
// Close the view when done (before this DB).
func (db *DB) LoadVersion(v int64) (*DB, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if v <= 0 {
		return nil, fmt.Errorf("memiavl: version %d out of range", v)
	}
	vid, err := db.idb.VersionAtHeight(uint64(v))
	if err != nil {
		return nil, fmt.Errorf("memiavl: version %d: %w", v, err)
	}
	s, err := db.idb.Snapshot(vid)
	if err != nil {
		return nil, err
	}
	if _, err := s.CommitHash(); err != nil { // hold the version's roots now
		s.Close()
		return nil, err
	}
	view := &DB{idb: db.idb, snap: s, readOnly: true, opts: db.opts, initial: db.initial}
	if err := view.load(); err != nil {
		s.Close()
		return nil, err
	}
	return view, nil
}

// Snapshot pins version height for reads, hashes and proofs through the thin layer (an
// iodb snapshot). Close it before the DB.
func (db *DB) Snapshot(height int64) (*iodb.Snapshot, error) {
	vid, err := db.idb.VersionAtHeight(uint64(height))
	if err != nil {
		return nil, fmt.Errorf("memiavl: version %d: %w", height, err)
	}
	return db.idb.Snapshot(vid)
}

// RollbackTo makes version v (a height on the head's ancestry) the latest, discarding every
// later version (memiavl's LoadForOverwriting). Pending changes are dropped.
func (db *DB) RollbackTo(v int64) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.readOnly {
		return errReadOnly
	}
	vid, err := db.idb.VersionAtHeight(uint64(v))
	if err != nil {
		return fmt.Errorf("memiavl: version %d: %w", v, err)
	}
	if err := db.idb.Rollback(vid); err != nil {
		return err
	}
	db.pending, db.upgrades, db.staged = nil, nil, false
	return db.load()
}

// RewriteSnapshot writes a full iodb Merkle snapshot of the latest version now.
func (db *DB) RewriteSnapshot() error {
	if db.readOnly {
		return errReadOnly
	}
	return db.idb.MerkleSnapshot(true)
}

// Export writes version height's state-sync stream (every tree, all nodes, with the
// version's ID and commit hash) to w.
func (db *DB) Export(height int64, w io.Writer) error {
	vid, err := db.idb.VersionAtHeight(uint64(height))
	if err != nil {
		return fmt.Errorf("memiavl: version %d: %w", height, err)
	}
	return db.idb.Export(vid, w)
}

// Import rebuilds a store in dir (missing or empty) from an Export stream, checking every
// hash against commitHash (the app hash the chain agreed on). Open it with OpenDB.
func Import(dir string, commitHash []byte, r io.Reader) error {
	return iodb.Import(dir, nil, commitHash, r)
}

// Close closes the DB. A pending working version that WorkingHash committed but Commit did
// not seal is rolled back (memiavl drops uncommitted changes too). A second Close
// returns nil.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.snap != nil {
		db.snap.Close()
		if db.own {
			return db.idb.Close()
		}
		return nil
	}
	var err error
	if db.staged && db.lastInfo.Version > 0 {
		err = db.idb.Rollback(vidOf(db.lastInfo.Version))
		db.staged = false
	}
	if cerr := db.idb.Close(); err == nil {
		err = cerr
	}
	return err
}

// Tree is one named tree of a DB (memiavl's Tree, read side).
type Tree struct {
	db   *DB
	name string
}

func (t *Tree) get(key []byte) ([]byte, error) {
	if t.db.snap != nil {
		return t.db.snap.Get(t.name, key)
	}
	return t.db.idb.Get(t.name, key)
}

// Get returns key's value, or nil if absent. It panics on a store error (memiavl's Get
// has no error either); GetE returns it.
func (t *Tree) Get(key []byte) []byte {
	v, err := t.GetE(key)
	if err != nil {
		panic(err)
	}
	return v
}

// GetE is Get with the error: nil, nil for an absent key.
func (t *Tree) GetE(key []byte) ([]byte, error) {
	v, err := t.get(key)
	if errors.Is(err, iodb.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Has says whether key is present (it panics on a store error, as Get).
func (t *Tree) Has(key []byte) bool { return t.Get(key) != nil }

// Iterator iterates [start, end) (nil: unbounded), ascending or descending. Close it.
func (t *Tree) Iterator(start, end []byte, ascending bool) (*iodb.Iterator, error) {
	return t.db.idb.Iterator(iodb.IterOptions{Store: t.name, Snapshot: t.db.snap, Start: start,
		End: end, Reverse: !ascending})
}

// RootHash is the tree's root hash (SHA256("") for an empty tree).
func (t *Tree) RootHash() []byte {
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	for _, s := range t.db.lastInfo.StoreInfos {
		if s.Name == t.name {
			return s.CommitId.Hash
		}
	}
	h := sha256.Sum256(nil)
	return h[:]
}

// Version is the tree's version: the DB's last committed version.
func (t *Tree) Version() int64 {
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	return t.db.lastInfo.Version
}

// GetProof returns an ICS23 CommitmentProof (protobuf bytes) of key's presence or
// absence against the tree's root.
func (t *Tree) GetProof(key []byte) ([]byte, error) {
	if t.db.snap != nil {
		return t.db.snap.Prove(t.name, key)
	}
	return t.db.idb.Prove(vidOf(t.Version()), t.name, key)
}

// GetCommitProof returns a ProofOps proof of key up to the commit hash (not in memiavl;
// the Cosmos SDK's query with prove=true).
func (t *Tree) GetCommitProof(key []byte) ([]byte, error) {
	if t.db.snap != nil {
		return t.db.snap.ProveCommit(t.name, key)
	}
	return t.db.idb.ProveCommit(vidOf(t.Version()), t.name, key)
}
