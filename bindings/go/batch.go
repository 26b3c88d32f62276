package iodb

/*
#include "iodbgo.h"
*/
import "C"

import (
	"log"
	"runtime"
)

// Batch is a list of puts and deletes for one Update (iodb_batch). It belongs to one
// goroutine at a time. Close frees it (a finalizer frees a forgotten one and logs it).
type Batch struct {
	b *C.iodb_batch
}

// NewBatch returns an empty batch (iodb_batch_new). It panics only if C memory is
// exhausted, as make does.
func NewBatch() *Batch {
	var b *C.iodb_batch
	if rc := C.iodb_batch_new(&b); rc != 0 {
		panic(newError("NewBatch", rc, "out of memory"))
	}
	bt := &Batch{b: b}
	runtime.SetFinalizer(bt, func(bt *Batch) {
		if bt.b != nil {
			log.Printf("iodb: a Batch of %d operations was not closed; freeing it in a finalizer", bt.Len())
			bt.Close()
		}
	})
	return bt
}

func (bt *Batch) op(name string, del bool, store string, key, value []byte) error {
	if bt.b == nil {
		return ErrClosed
	}
	cs, owned, err := cname(store)
	if err != nil {
		return err
	}
	d := C.int(0)
	if del {
		d = 1
	}
	r := C.iodbgo_batch_op(bt.b, d, cs, bytesPtr(key), C.size_t(len(key)), bytesPtr(value),
		C.size_t(len(value)))
	release(cs, owned)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	runtime.KeepAlive(bt)
	if r.rc != 0 {
		return newError(name, r.rc, takeMsg(r.msg))
	}
	return nil
}

// Put adds a put of key = value in store ("" = default) (iodb_batch_put). The batch
// copies key and value.
func (bt *Batch) Put(store string, key, value []byte) error {
	return bt.op("Batch.Put", false, store, key, value)
}

// Delete adds a delete of key in store (iodb_batch_del).
func (bt *Batch) Delete(store string, key []byte) error {
	return bt.op("Batch.Delete", true, store, key, nil)
}

// Clear empties the batch for reuse (iodb_batch_clear).
func (bt *Batch) Clear() {
	if bt.b != nil {
		C.iodb_batch_clear(bt.b)
	}
}

// Len is the number of operations (iodb_batch_count); 0 after Close.
func (bt *Batch) Len() int {
	if bt.b == nil {
		return 0
	}
	n := int(C.iodb_batch_count(bt.b))
	runtime.KeepAlive(bt)
	return n
}

// Close frees the batch (iodb_batch_free). A second Close does nothing.
func (bt *Batch) Close() error {
	if bt.b != nil {
		C.iodb_batch_free(bt.b)
		bt.b = nil
		runtime.SetFinalizer(bt, nil)
	}
	return nil
}
