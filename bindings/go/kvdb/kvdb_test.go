package kvdb_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"iodb.dev/iodb/kvdb"
)

// The method sets of cometbft-db's interfaces, written out here (this module cannot import
// cometbft-db): a compile-time check that kvdb's types would satisfy them.
type cometDB interface {
	Get([]byte) ([]byte, error)
	Has(key []byte) (bool, error)
	Set([]byte, []byte) error
	SetSync([]byte, []byte) error
	Delete([]byte) error
	DeleteSync([]byte) error
	Iterator(start, end []byte) (kvdb.Iterator, error)
	ReverseIterator(start, end []byte) (kvdb.Iterator, error)
	Close() error
	NewBatch() kvdb.Batch
	Print() error
	Stats() map[string]string
	Compact(start, end []byte) error
}

var _ cometDB = (*kvdb.DB)(nil)

func open(t testing.TB, o kvdb.Options) *kvdb.DB {
	t.Helper()
	db, err := kvdb.Open(filepath.Join(t.TempDir(), "db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestKVSemantics(t *testing.T) {
	db := open(t, kvdb.Options{})
	k := func(s string) []byte { return []byte(s) }
	checks := []struct {
		name string
		got  func() (interface{}, error)
		want interface{}
		err  error
	}{
		{"get absent", func() (interface{}, error) { v, err := db.Get(k("a")); return v == nil, err }, true, nil},
		{"has absent", func() (interface{}, error) { return db.Has(k("a")) }, false, nil},
		{"set", func() (interface{}, error) { return nil, db.Set(k("a"), []byte{1}) }, nil, nil},
		{"has", func() (interface{}, error) { return db.Has(k("a")) }, true, nil},
		{"get", func() (interface{}, error) { v, err := db.Get(k("a")); return fmt.Sprint(v), err }, "[1]", nil},
		{"setsync", func() (interface{}, error) { return nil, db.SetSync(k("b"), []byte{2}) }, nil, nil},
		{"get b", func() (interface{}, error) { v, err := db.Get(k("b")); return fmt.Sprint(v), err }, "[2]", nil},
		{"delete absent", func() (interface{}, error) { return nil, db.Delete(k("x")) }, nil, nil},
		{"deletesync absent", func() (interface{}, error) { return nil, db.DeleteSync(k("x")) }, nil, nil},
		{"delete", func() (interface{}, error) { return nil, db.Delete(k("a")) }, nil, nil},
		{"get deleted", func() (interface{}, error) { v, err := db.Get(k("a")); return v == nil, err }, true, nil},
		{"deletesync", func() (interface{}, error) { return nil, db.DeleteSync(k("b")) }, nil, nil},
		{"get empty key", func() (interface{}, error) { _, err := db.Get([]byte{}); return nil, err }, nil, kvdb.ErrKeyEmpty},
		{"get nil key", func() (interface{}, error) { _, err := db.Get(nil); return nil, err }, nil, kvdb.ErrKeyEmpty},
		{"has nil key", func() (interface{}, error) { _, err := db.Has(nil); return nil, err }, nil, kvdb.ErrKeyEmpty},
		{"set empty key", func() (interface{}, error) { return nil, db.Set([]byte{}, []byte{1}) }, nil, kvdb.ErrKeyEmpty},
		{"setsync nil key", func() (interface{}, error) { return nil, db.SetSync(nil, []byte{1}) }, nil, kvdb.ErrKeyEmpty},
		{"delete empty key", func() (interface{}, error) { return nil, db.Delete([]byte{}) }, nil, kvdb.ErrKeyEmpty},
		{"deletesync nil key", func() (interface{}, error) { return nil, db.DeleteSync(nil) }, nil, kvdb.ErrKeyEmpty},
		{"set nil value", func() (interface{}, error) { return nil, db.Set(k("x"), nil) }, nil, kvdb.ErrValueNil},
		{"setsync nil value", func() (interface{}, error) { return nil, db.SetSync(k("x"), nil) }, nil, kvdb.ErrValueNil},
		{"set empty value", func() (interface{}, error) { return nil, db.Set(k("x"), []byte{}) }, nil, nil},
		{"get empty value", func() (interface{}, error) {
			v, err := db.Get(k("x"))
			return v != nil && len(v) == 0, err
		}, true, nil},
		{"iterator empty start", func() (interface{}, error) { _, err := db.Iterator([]byte{}, nil); return nil, err }, nil, kvdb.ErrKeyEmpty},
		{"reverse iterator empty end", func() (interface{}, error) { _, err := db.ReverseIterator(nil, []byte{}); return nil, err }, nil, kvdb.ErrKeyEmpty},
		{"compact", func() (interface{}, error) { return nil, db.Compact(nil, nil) }, nil, nil},
	}
	for _, c := range checks {
		got, err := c.got()
		if err != c.err {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
		} else if c.err == nil && got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Versions: KeepVersions 1 keeps one.
	vs, err := db.Iodb().Versions()
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions kept: %d %v", len(vs), err)
	}
	if st := db.Stats(); st["versions"] != "1" {
		t.Fatalf("stats: %v", st["versions"])
	}
}

func TestKVIterators(t *testing.T) {
	db := open(t, kvdb.Options{Store: "kv"})
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := db.Set([]byte(k), []byte(k+k)); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(it kvdb.Iterator, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		var b bytes.Buffer
		for ; it.Valid(); it.Next() {
			b.Write(it.Key())
		}
		if it.Error() != nil {
			t.Fatal(it.Error())
		}
		return b.String()
	}
	for _, c := range []struct{ start, end, fwd, rev string }{
		{"", "", "abcd", "dcba"}, {"b", "", "bcd", "dcb"}, {"", "c", "ab", "ba"},
		{"b", "d", "bc", "cb"}, {"a0", "c0", "bc", "cb"}, {"c", "c", "", ""}, {"d", "a", "", ""},
	} {
		var s, e []byte
		if c.start != "" {
			s = []byte(c.start)
		}
		if c.end != "" {
			e = []byte(c.end)
		}
		if got := walk(db.Iterator(s, e)); got != c.fwd {
			t.Errorf("Iterator(%q,%q) = %q, want %q", c.start, c.end, got, c.fwd)
		}
		if got := walk(db.ReverseIterator(s, e)); got != c.rev {
			t.Errorf("ReverseIterator(%q,%q) = %q, want %q", c.start, c.end, got, c.rev)
		}
	}
	it, _ := db.Iterator([]byte("b"), []byte("d"))
	if s, e := it.Domain(); string(s) != "b" || string(e) != "d" {
		t.Fatal("domain")
	}
	it.Close()
}

func TestKVBatch(t *testing.T) {
	db := open(t, kvdb.Options{KeepVersions: 3})
	b := db.NewBatch()
	if err := b.Set(nil, []byte{1}); err != kvdb.ErrKeyEmpty {
		t.Fatal(err)
	}
	if err := b.Set([]byte("a"), nil); err != kvdb.ErrValueNil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		b.Set([]byte(fmt.Sprint("k", i)), []byte{byte(i)})
	}
	b.Delete([]byte("k3"))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(); err != kvdb.ErrBatchClosed {
		t.Fatalf("second write: %v", err)
	}
	if err := b.Set([]byte("z"), []byte{1}); err != kvdb.ErrBatchClosed {
		t.Fatalf("set after write: %v", err)
	}
	b.Close()
	b.Close()
	if ok, _ := db.Has([]byte("k3")); ok {
		t.Fatal("k3 deleted in the batch")
	}
	if v, _ := db.Get([]byte("k9")); !bytes.Equal(v, []byte{9}) {
		t.Fatal("k9")
	}
	b2 := db.NewBatch()
	b2.Set([]byte("w"), []byte("s"))
	if err := b2.WriteSync(); err != nil {
		t.Fatal(err)
	}
	b2.Close()
	empty := db.NewBatch()
	if err := empty.Write(); err != nil {
		t.Fatal(err)
	}
	vs, _ := db.Iodb().Versions()
	if len(vs) != 2 { // the empty batch made no version
		t.Fatalf("%d versions", len(vs))
	}
}

func TestKVConcurrentAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := kvdb.Open(dir, kvdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				k := []byte(fmt.Sprintf("g%d-%d", g, i))
				if err := db.Set(k, k); err != nil {
					t.Error(err)
					return
				}
				if v, err := db.Get(k); err != nil || !bytes.Equal(v, k) {
					t.Errorf("read back %s: %q %v", k, v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	db.Close()
	db, err = kvdb.Open(dir, kvdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Set([]byte("after"), []byte("reopen")); err != nil {
		t.Fatal(err)
	}
	it, _ := db.Iterator(nil, nil)
	n := 0
	for ; it.Valid(); it.Next() {
		n++
	}
	it.Close()
	if n != 201 {
		t.Fatalf("%d keys", n)
	}
}
