package iodb

/*
#include "iodbgo.h"
*/
import "C"

import (
	"log"
	"runtime"
	"unsafe"
)

// Snapshot pins one version's view (iodb_snapshot): it reads that version as committed,
// whatever rollback, clean or later writes do, until closed. It belongs to one goroutine
// at a time. Close it before the DB (the DB's Close fails with ErrBusy while snapshots are
// open); a finalizer closes a forgotten one and logs it.
type Snapshot struct {
	db *DB
	s  *C.iodb_snapshot
}

// Snapshot opens a snapshot of version vid (nil: the head now) (iodb_snapshot_open).
func (db *DB) Snapshot(vid []byte) (*Snapshot, error) {
	var s *C.iodb_snapshot
	err := db.simple("Snapshot", func(h *C.iodb) C.int {
		return C.iodb_snapshot_open(h, bytesPtr(vid), C.size_t(len(vid)), &s)
	})
	if err != nil {
		return nil, err
	}
	sn := &Snapshot{db: db, s: s}
	runtime.SetFinalizer(sn, func(sn *Snapshot) {
		if sn.s != nil {
			log.Printf("iodb: a Snapshot of DB %q was not closed; closing it in a finalizer", sn.db.dir)
			sn.Close()
		}
	})
	return sn, nil
}

// Close closes the snapshot (iodb_snapshot_close). A second Close does nothing.
func (s *Snapshot) Close() error {
	if s.s != nil {
		C.iodb_snapshot_close(s.s)
		s.s = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

// call runs a snapshot call with the thread held for its message.
func (s *Snapshot) call(op string, f func(h *C.iodb_snapshot) C.int) error {
	if s.s == nil {
		return ErrClosed
	}
	runtime.LockOSThread()
	rc := f(s.s)
	err := lastErr(op, rc)
	runtime.UnlockOSThread()
	runtime.KeepAlive(s)
	return err
}

// Get reads key in store at the pinned version (iodb_snapshot_get).
func (s *Snapshot) Get(store string, key []byte) ([]byte, error) {
	if s.s == nil {
		return nil, ErrClosed
	}
	v, err := get("Snapshot.Get", nil, s.s, store, key)
	runtime.KeepAlive(s)
	return v, err
}

// Stores lists the stores of the pinned version in name order with their roots
// (iodb_snapshot_stores).
func (s *Snapshot) Stores() ([]StoreInfo, error) {
	if s.s == nil {
		return nil, ErrClosed
	}
	var out []StoreInfo
	st := &walkState{stores: func(i StoreInfo) error { out = append(out, i); return nil }}
	err := runWalk("Snapshot.Stores", st, func(hd C.uintptr_t) C.int {
		return C.iodbgo_snapshot_stores(s.s, hd)
	})
	runtime.KeepAlive(s)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Version returns the pinned version's ID and height (iodb_snapshot_version).
func (s *Snapshot) Version() ([]byte, uint64, error) {
	var p unsafe.Pointer
	var n C.size_t
	var height C.uint64_t
	err := s.call("Snapshot.Version", func(h *C.iodb_snapshot) C.int {
		return C.iodb_snapshot_version(h, &p, &n, &height)
	})
	if err != nil {
		return nil, 0, err
	}
	return takeBytes(p, n), uint64(height), nil
}

// RootHash returns store's root at the pinned version (iodb_snapshot_root_hash).
func (s *Snapshot) RootHash(store string) ([]byte, error) {
	cs, owned, err := cname(store)
	if err != nil {
		return nil, err
	}
	defer release(cs, owned)
	var hash [HashSize]byte
	err = s.call("Snapshot.RootHash", func(h *C.iodb_snapshot) C.int {
		return C.iodb_snapshot_root_hash(h, cs, (*C.uint8_t)(unsafe.Pointer(&hash[0])))
	})
	if err != nil {
		return nil, err
	}
	return hash[:], nil
}

// CommitHash returns the pinned version's commit hash (iodb_snapshot_commit_hash).
func (s *Snapshot) CommitHash() ([]byte, error) {
	var hash [HashSize]byte
	err := s.call("Snapshot.CommitHash", func(h *C.iodb_snapshot) C.int {
		return C.iodb_snapshot_commit_hash(h, (*C.uint8_t)(unsafe.Pointer(&hash[0])))
	})
	if err != nil {
		return nil, err
	}
	return hash[:], nil
}

// Prove is DB.Prove at the pinned version (iodb_snapshot_prove).
func (s *Snapshot) Prove(store string, key []byte) ([]byte, error) {
	return s.prove("Snapshot.Prove", store, key, false)
}

// ProveCommit is DB.ProveCommit at the pinned version (iodb_snapshot_prove_commit).
func (s *Snapshot) ProveCommit(store string, key []byte) ([]byte, error) {
	return s.prove("Snapshot.ProveCommit", store, key, true)
}

func (s *Snapshot) prove(op, store string, key []byte, commit bool) ([]byte, error) {
	cs, owned, err := cname(store)
	if err != nil {
		return nil, err
	}
	defer release(cs, owned)
	var p unsafe.Pointer
	var n C.size_t
	err = s.call(op, func(h *C.iodb_snapshot) C.int {
		if commit {
			return C.iodb_snapshot_prove_commit(h, cs, bytesPtr(key), C.size_t(len(key)), &p, &n)
		}
		return C.iodb_snapshot_prove(h, cs, bytesPtr(key), C.size_t(len(key)), &p, &n)
	})
	if err != nil {
		return nil, err
	}
	return takeBytes(p, n), nil
}

// Iterator opens an iterator over store at the pinned version; see DB.Iterator.
func (s *Snapshot) Iterator(store string, start, end []byte, reverse bool) (*Iterator, error) {
	if s.s == nil {
		return nil, ErrClosed
	}
	return s.db.Iterator(IterOptions{Store: store, Snapshot: s, Start: start, End: end, Reverse: reverse})
}
