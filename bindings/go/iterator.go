package iodb

/*
#include "iodbgo.h"
*/
import "C"

import (
	"bytes"
	"log"
	"runtime"
	"unsafe"
)

// IterOptions chooses what an Iterator walks.
type IterOptions struct {
	Store    string    // "" = the default store
	Snapshot *Snapshot // nil: the head as of the Iterator call
	Start    []byte    // inclusive lower bound; nil (or empty): from the first key
	End      []byte    // exclusive upper bound; nil (or empty): to the last key
	Reverse  bool      // descending order: from the last key below End down to Start
}

// Iterator walks one store's keys in [Start, End), ascending or descending (iodb_iter).
// It has cometbft-db's Iterator method set and semantics (Domain, Valid, Next, Key, Value,
// Error, Close): it starts on the first entry in its direction, and Next, Key and Value
// panic when it is not Valid. It belongs to one goroutine at a time. Close it before the
// DB; a finalizer closes a forgotten one and logs it.
type Iterator struct {
	db         *DB
	snap       *Snapshot
	it         *C.iodb_iter
	start, end []byte
	reverse    bool
	valid      bool
	key, value []byte
	err        error
}

// Iterator opens an iterator (iodb_iter_open) and positions it on the first entry of its
// range in its direction.
func (db *DB) Iterator(o IterOptions) (*Iterator, error) {
	var cs_ *C.iodb_snapshot
	if o.Snapshot != nil {
		if o.Snapshot.s == nil {
			return nil, ErrClosed
		}
		cs_ = o.Snapshot.s
	}
	cs, owned, err := cname(o.Store)
	if err != nil {
		return nil, err
	}
	var it *C.iodb_iter
	err = db.simple("Iterator", func(h *C.iodb) C.int { return C.iodb_iter_open(h, cs_, cs, &it) })
	release(cs, owned)
	runtime.KeepAlive(o.Snapshot)
	if err != nil {
		return nil, err
	}
	x := &Iterator{db: db, snap: o.Snapshot, it: it, reverse: o.Reverse}
	if len(o.Start) > 0 {
		x.start = append([]byte(nil), o.Start...)
	}
	if len(o.End) > 0 {
		x.end = append([]byte(nil), o.End...)
	}
	runtime.SetFinalizer(x, func(x *Iterator) {
		if x.it != nil {
			log.Printf("iodb: an Iterator of DB %q was not closed; closing it in a finalizer", x.db.dir)
			x.Close()
		}
	})
	x.First()
	return x, nil
}

const (
	mvFirst = 0
	mvLast  = 1
	mvSeek  = 2
	mvNext  = 3
	mvPrev  = 4
)

// move makes one C call and takes the entry it lands on if it is in range.
func (x *Iterator) move(op int, key []byte) bool {
	if x.it == nil {
		x.valid = false
		if x.err == nil {
			x.err = ErrClosed
		}
		return false
	}
	p := C.iodbgo_move(x.it, C.int(op), bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	return x.take(p)
}

func (x *Iterator) take(p C.iodbgo_pos) bool {
	x.valid = false
	x.key, x.value = nil, nil
	if p.rc == C.IODB_NOTFOUND {
		return false
	}
	if p.rc != 0 {
		x.err = newError("Iterator", p.rc, takeMsg(p.msg))
		return false
	}
	k := unsafe.Slice((*byte)(p.k), int(p.klen))
	if x.reverse {
		if x.start != nil && bytes.Compare(k, x.start) < 0 {
			return false
		}
	} else if x.end != nil && bytes.Compare(k, x.end) >= 0 {
		return false
	}
	// One allocation for both, copied out of iodb's buffers (valid until the next move).
	buf := make([]byte, int(p.klen)+int(p.vlen))
	copy(buf, k)
	if p.vlen > 0 {
		copy(buf[p.klen:], unsafe.Slice((*byte)(p.v), int(p.vlen)))
	}
	x.key = buf[:p.klen:p.klen]
	x.value = buf[p.klen:]
	x.valid = true
	return true
}

// First positions on the first entry of the range in the iterator's direction (the
// smallest key >= Start, or descending the largest key < End). It reports Valid.
func (x *Iterator) First() bool {
	if !x.reverse {
		if x.start != nil {
			return x.move(mvSeek, x.start)
		}
		return x.move(mvFirst, nil)
	}
	if x.end != nil {
		return x.seekBelow(x.end, false)
	}
	return x.move(mvLast, nil)
}

// seekBelow positions descending on the largest key < key (or <= key with inclusive).
func (x *Iterator) seekBelow(key []byte, inclusive bool) bool {
	if x.it == nil {
		return x.move(mvSeek, key)
	}
	p := C.iodbgo_move(x.it, mvSeek, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	switch {
	case p.rc == C.IODB_NOTFOUND: // every key is below key
		return x.move(mvLast, nil)
	case p.rc != 0:
		return x.take(p)
	case inclusive && bytes.Equal(unsafe.Slice((*byte)(p.k), int(p.klen)), key):
		return x.take(p)
	}
	return x.move(mvPrev, nil)
}

// Seek positions on the first entry at or after key in the iterator's direction:
// ascending the smallest key >= key, descending the largest key <= key, kept within
// the range. It reports Valid.
func (x *Iterator) Seek(key []byte) bool {
	if !x.reverse {
		if x.start != nil && bytes.Compare(key, x.start) < 0 {
			key = x.start
		}
		return x.move(mvSeek, key)
	}
	if x.end != nil && bytes.Compare(key, x.end) >= 0 {
		return x.seekBelow(x.end, false)
	}
	return x.seekBelow(key, true)
}

// Domain returns the range's bounds (start inclusive, end exclusive; nil: unbounded).
func (x *Iterator) Domain() (start, end []byte) { return x.start, x.end }

// Valid says whether the iterator is on an entry. Once it ran off its range it stays
// invalid until First or Seek.
func (x *Iterator) Valid() bool { return x.valid }

func (x *Iterator) mustBeValid() {
	if !x.valid {
		panic("iodb: iterator is not valid")
	}
}

// Next moves to the next entry in the iterator's direction. It panics if not Valid.
func (x *Iterator) Next() {
	x.mustBeValid()
	if x.reverse {
		x.move(mvPrev, nil)
	} else {
		x.move(mvNext, nil)
	}
}

// Key returns the current key: a copy the caller may keep. It panics if not Valid.
func (x *Iterator) Key() []byte {
	x.mustBeValid()
	return x.key
}

// Value returns the current value: a copy the caller may keep. It panics if not Valid.
func (x *Iterator) Value() []byte {
	x.mustBeValid()
	return x.value
}

// Error returns the error that stopped the iterator, if any.
func (x *Iterator) Error() error { return x.err }

// Close closes the iterator (iodb_iter_close). A second Close does nothing.
func (x *Iterator) Close() error {
	if x.it != nil {
		C.iodb_iter_close(x.it)
		x.it = nil
		x.valid = false
		x.key, x.value = nil, nil
		runtime.SetFinalizer(x, nil)
	}
	return nil
}
