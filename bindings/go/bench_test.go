package iodb_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"iodb.dev/iodb"
)

// The operations bench/overhead.c times from C, with the same store, keys and values;
// bench.sh runs both and prints the Go overhead per call.

const benchN = 10000

type benchDB struct {
	db  *iodb.DB
	seq uint64
	val []byte
}

func (d *benchDB) vid() []byte {
	d.seq++
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], d.seq)
	return id[:]
}

func newBenchDB(b *testing.B) *benchDB {
	db, _ := openTemp(b, nil) // sync off, defaults otherwise (Merkle on)
	d := &benchDB{db: db, val: make([]byte, 100)}
	for i := range d.val {
		d.val[i] = 'v'
	}
	bt := iodb.NewBatch()
	defer bt.Close()
	for i := 0; i < benchN; i++ {
		must(b, bt.Put("", []byte(fmt.Sprintf("key%012d", i)), d.val))
	}
	must(b, db.Update(d.vid(), bt))
	return d
}

func BenchmarkOverheadGet(b *testing.B) {
	d := newBenchDB(b)
	keys := make([][]byte, benchN)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key%012d", i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.db.Get("", keys[(i*7919)%benchN]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOverheadIterNext(b *testing.B) {
	d := newBenchDB(b)
	var it *iodb.Iterator
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if it == nil || !it.Valid() {
			if it != nil {
				it.Close()
			}
			var err error
			if it, err = d.db.Iterator(iodb.IterOptions{}); err != nil {
				b.Fatal(err)
			}
		} else {
			it.Next()
		}
	}
	it.Close()
}

func BenchmarkOverheadPut(b *testing.B) {
	d := newBenchDB(b)
	bt := iodb.NewBatch()
	defer bt.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt.Clear()
		must(b, bt.Put("", []byte(fmt.Sprintf("put%012d", d.seq)), d.val))
		must(b, d.db.Update(d.vid(), bt))
	}
}

func BenchmarkOverheadCommit1000(b *testing.B) {
	d := newBenchDB(b)
	bt := iodb.NewBatch()
	defer bt.Close()
	key := make([]byte, 15)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt.Clear()
		for j := 0; j < 1000; j++ {
			key = append(key[:0], fmt.Sprintf("c%06d%08d", d.seq, j)...)
			must(b, bt.Put("", key, d.val))
		}
		must(b, d.db.Update(d.vid(), bt))
	}
}
