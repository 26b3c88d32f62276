package iodb

// The C side of the callbacks: iodb calls the static trampolines in iodb.go, which call
// these with the runtime/cgo.Handle the Go caller passed as the context. This file may
// hold only declarations in its preamble (it has //export functions).

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"io"
	"runtime/cgo"
	"unsafe"
)

func state(h C.uintptr_t) *walkState { return cgo.Handle(h).Value().(*walkState) }

func stop(st *walkState, err error) C.int {
	st.err = err
	return 1
}

//export iodbGoVersionCB
func iodbGoVersionCB(h C.uintptr_t, vid unsafe.Pointer, vidlen C.size_t, parent unsafe.Pointer,
	parentlen C.size_t, height C.uint64_t) C.int {
	st := state(h)
	v := VersionInfo{ID: C.GoBytes(vid, C.int(vidlen)), Height: uint64(height)}
	if parent != nil {
		v.Parent = C.GoBytes(parent, C.int(parentlen))
	}
	if err := st.versions(v); err != nil {
		return stop(st, err)
	}
	return 0
}

//export iodbGoStoreCB
func iodbGoStoreCB(h C.uintptr_t, name *C.char, root unsafe.Pointer) C.int {
	st := state(h)
	if err := st.stores(StoreInfo{Name: C.GoString(name), Root: C.GoBytes(root, HashSize)}); err != nil {
		return stop(st, err)
	}
	return 0
}

//export iodbGoChunkCB
func iodbGoChunkCB(h C.uintptr_t, chunk unsafe.Pointer, n C.size_t) C.int {
	st := state(h)
	var b []byte
	if n > 0 {
		b = unsafe.Slice((*byte)(chunk), int(n))
	}
	if err := st.chunk(b); err != nil {
		return stop(st, err)
	}
	return 0
}

//export iodbGoNextCB
func iodbGoNextCB(h C.uintptr_t, chunk *unsafe.Pointer, n *C.size_t) C.int {
	st := state(h)
	b, err := st.next()
	if err == io.EOF || (err == nil && len(b) == 0) {
		*chunk, *n = nil, 0
		return 0
	}
	if err != nil {
		return stop(st, err)
	}
	// The chunk must stay valid until the next call and C memory may not point to Go
	// memory: copy it into a C buffer owned by the walk.
	if len(b) > st.bufLen {
		if st.buf != nil {
			C.free(st.buf)
		}
		st.buf = C.malloc(C.size_t(len(b)))
		st.bufLen = len(b)
	}
	C.memcpy(st.buf, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	*chunk, *n = st.buf, C.size_t(len(b))
	return 0
}
