package iodb_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"iodb.dev/iodb"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// commit writes one version: kv pairs "k=v" in store, "k=" deletes.
func commit(t testing.TB, db *iodb.DB, id, store string, kv ...string) {
	t.Helper()
	b := iodb.NewBatch()
	defer b.Close()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			must(t, b.Delete(store, []byte(kv[i])))
		} else {
			must(t, b.Put(store, []byte(kv[i]), []byte(kv[i+1])))
		}
	}
	must(t, db.Update([]byte(id), b))
}

func expectGet(t testing.TB, get func(string, []byte) ([]byte, error), store, key, want string) {
	t.Helper()
	v, err := get(store, []byte(key))
	if want == "" {
		if !errors.Is(err, iodb.ErrNotFound) {
			t.Fatalf("%s/%s: got %q %v, want not found", store, key, v, err)
		}
		return
	}
	if err != nil || string(v) != want {
		t.Fatalf("%s/%s: got %q %v, want %q", store, key, v, err, want)
	}
}

func TestBasics(t *testing.T) {
	if iodb.LibraryVersion() != iodb.HeaderVersion {
		t.Fatalf("library %d, header %d", iodb.LibraryVersion(), iodb.HeaderVersion)
	}
	db, _ := openTemp(t, nil)
	if _, err := db.Head(); !errors.Is(err, iodb.ErrNotFound) {
		t.Fatalf("head of an empty store: %v", err)
	}
	commit(t, db, "v1", "", "apple", "red", "banana", "yellow")
	commit(t, db, "v1b", "fruit", "count", "2")
	b := iodb.NewBatch()
	must(t, b.Put("", []byte("empty"), nil))
	must(t, db.Update([]byte("v2"), b))
	b.Close()
	v, err := db.Get("", []byte("empty"))
	if err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value: %v %v", v, err)
	}
	expectGet(t, db.Get, "fruit", "count", "2")
	h, err := db.Head()
	if err != nil || string(h) != "v2" {
		t.Fatalf("head %q %v", h, err)
	}
	st, err := db.Stores(nil)
	if err != nil || len(st) != 2 || st[0].Name != "" || st[1].Name != "fruit" || len(st[1].Root) != 32 {
		t.Fatalf("stores %v %v", st, err)
	}
	js, err := db.StatsMap()
	if err != nil || js["versions"] == nil {
		t.Fatalf("stats %v %v", js, err)
	}
	snap, err := db.Snapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	sst, err := snap.Stores()
	if err != nil || len(sst) != len(st) || sst[1].Name != "fruit" || string(sst[1].Root) != string(st[1].Root) {
		t.Fatalf("snapshot stores %v %v", sst, err)
	}
	snap.Close()
	if _, err := snap.Stores(); err != iodb.ErrClosed {
		t.Fatalf("stores of a closed snapshot: %v", err)
	}
	must(t, db.Sync())
	must(t, db.Flush())
	must(t, db.Compact())
	expectGet(t, db.Get, "", "apple", "red")
	id, err := db.VersionAtHeight(2)
	if err != nil || string(id) != "v1b" {
		t.Fatalf("height 2: %q %v", id, err)
	}
}

func TestCommitProofs(t *testing.T) {
	db, _ := openTemp(t, nil)
	commit(t, db, "v1", "bank", "alice", "100", "bob", "50")
	commit(t, db, "v2", "acc", "carol", "7")
	commit(t, db, "v3", "bank", "alice", "90", "bob", "")
	for _, tc := range []struct {
		vid, store, key, val string
	}{
		{"v1", "bank", "alice", "100"}, {"v3", "bank", "alice", "90"}, {"v3", "bank", "bob", ""},
		{"v2", "acc", "carol", "7"}, {"v2", "acc", "dave", ""},
	} {
		hash, err := db.CommitHash([]byte(tc.vid))
		must(t, err)
		p, err := db.ProveCommit([]byte(tc.vid), tc.store, []byte(tc.key))
		must(t, err)
		var val []byte
		if tc.val != "" {
			val = []byte(tc.val)
		}
		if err := iodb.VerifyCommitProof(hash, p, tc.store, []byte(tc.key), val); err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		// Store root proof too.
		root, err := db.RootHash([]byte(tc.vid), tc.store)
		must(t, err)
		sp, err := db.Prove([]byte(tc.vid), tc.store, []byte(tc.key))
		must(t, err)
		must(t, iodb.VerifyProof(root, sp, []byte(tc.key), val))
		// Tampered and wrong claims.
		bad := append([]byte(nil), p...)
		bad[len(bad)-3] ^= 0x10
		if err := iodb.VerifyCommitProof(hash, bad, tc.store, []byte(tc.key), val); err == nil {
			t.Fatalf("%v: tampered proof verified", tc)
		}
		if err := iodb.VerifyCommitProof(hash, p, "other", []byte(tc.key), val); err == nil {
			t.Fatalf("%v: verified for another store", tc)
		}
		wrong := append([]byte(nil), hash...)
		wrong[31] ^= 1
		if err := iodb.VerifyCommitProof(wrong, p, tc.store, []byte(tc.key), val); !errors.Is(err, iodb.ErrProof) {
			t.Fatalf("%v: wrong hash: %v", tc, err)
		}
		if err := iodb.VerifyCommitProof(hash, p, tc.store, []byte(tc.key), []byte("x")); err == nil {
			t.Fatalf("%v: verified a wrong value", tc)
		}
	}
	// The default store cannot be proven to the commit hash; bad hash sizes are refused.
	commit(t, db, "v4", "", "k", "v")
	if _, err := db.ProveCommit(nil, "", []byte("k")); !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("default store commit proof: %v", err)
	}
	if err := iodb.VerifyProof([]byte{1, 2}, []byte{1}, []byte("k"), nil); !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("short root: %v", err)
	}
}

func TestBranchesAndRollback(t *testing.T) {
	db, _ := openTemp(t, nil)
	commit(t, db, "a", "", "k", "1")
	commit(t, db, "b", "", "k", "2")
	commit(t, db, "c", "", "k", "3")
	must(t, db.Checkout([]byte("a")))
	commit(t, db, "b2", "", "k", "20", "x", "y")
	expectGet(t, db.Get, "", "k", "20")
	vs, err := db.Versions()
	must(t, err)
	tree := map[string]string{}
	heights := map[string]uint64{}
	for _, v := range vs {
		tree[string(v.ID)] = string(v.Parent)
		heights[string(v.ID)] = v.Height
	}
	want := map[string]string{"a": "", "b": "a", "c": "b", "b2": "a"}
	if fmt.Sprint(tree) != fmt.Sprint(want) || heights["b2"] != 2 || heights["c"] != 3 {
		t.Fatalf("version tree %v heights %v", tree, heights)
	}
	// Both branches keep their own state and hashes.
	s, err := db.Snapshot([]byte("c"))
	must(t, err)
	expectGet(t, s.Get, "", "k", "3")
	expectGet(t, s.Get, "", "x", "")
	s.Close()
	if err := db.Update([]byte("b"), nil); !errors.Is(err, iodb.ErrExists) {
		t.Fatalf("reused ID: %v", err)
	}
	// Rollback to a discards b2's descendants and b2 itself.
	must(t, db.Rollback([]byte("a")))
	expectGet(t, db.Get, "", "k", "1")
	vs, _ = db.Versions()
	for _, v := range vs {
		if string(v.ID) == "b2" {
			t.Fatal("b2 survived the rollback to a")
		}
	}
	if err := db.Rollback([]byte("nope")); !errors.Is(err, iodb.ErrNotFound) {
		t.Fatalf("rollback to an unknown version: %v", err)
	}
	// A discarded ID may be used again.
	commit(t, db, "b2", "", "k", "again")
	// WalkVersions stops with the callback's error.
	stopErr := errors.New("stop here")
	if err := db.WalkVersions(func(iodb.VersionInfo) error { return stopErr }); err != stopErr {
		t.Fatalf("walk stopped: %v", err)
	}
	must(t, db.Clean(1))
	vs, _ = db.Versions()
	if len(vs) != 1 || string(vs[0].ID) != "b2" {
		t.Fatalf("after clean: %v", vs)
	}
}

func TestSnapshotAcrossRollback(t *testing.T) {
	db, _ := openTemp(t, nil)
	commit(t, db, "1", "s", "k", "one")
	commit(t, db, "2", "s", "k", "two")
	s, err := db.Snapshot([]byte("2"))
	must(t, err)
	defer s.Close()
	hash, err := s.CommitHash()
	must(t, err)
	must(t, db.Rollback([]byte("1")))
	commit(t, db, "2", "s", "k", "other")
	// The snapshot still reads and proves the old version 2.
	expectGet(t, s.Get, "s", "k", "two")
	id, h, err := s.Version()
	if err != nil || string(id) != "2" || h != 2 {
		t.Fatalf("snapshot version %q %d %v", id, h, err)
	}
	h2, err := s.CommitHash()
	if err != nil || !bytes.Equal(h2, hash) {
		t.Fatalf("snapshot hash changed: %x %v", h2, err)
	}
	p, err := s.ProveCommit("s", []byte("k"))
	must(t, err)
	must(t, iodb.VerifyCommitProof(hash, p, "s", []byte("k"), []byte("two")))
	newHash, _ := db.CommitHash([]byte("2"))
	if bytes.Equal(newHash, hash) {
		t.Fatal("the new version 2 has the old one's hash")
	}
	it, err := s.Iterator("s", nil, nil, false)
	must(t, err)
	if !it.Valid() || string(it.Value()) != "two" {
		t.Fatal("snapshot iterator")
	}
	it.Close()
	// The DB cannot close while the snapshot is open; it stays usable.
	if err := db.Close(); !errors.Is(err, iodb.ErrBusy) {
		t.Fatalf("close with an open snapshot: %v", err)
	}
	expectGet(t, db.Get, "s", "k", "other")
}

func keys(t testing.TB, it *iodb.Iterator) string {
	t.Helper()
	defer it.Close()
	var out []string
	for ; it.Valid(); it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	must(t, it.Error())
	return fmt.Sprint(out)
}

func TestIteratorBounds(t *testing.T) {
	db, _ := openTemp(t, nil)
	commit(t, db, "v", "", "a", "1", "b", "2", "c", "3", "d", "4")
	commit(t, db, "w", "other", "zz", "9")
	b := func(s string) []byte {
		if s == "-" {
			return nil
		}
		return []byte(s)
	}
	for _, tc := range []struct {
		start, end string
		fwd, rev   string
	}{
		{"-", "-", "[a=1 b=2 c=3 d=4]", "[d=4 c=3 b=2 a=1]"},
		{"b", "-", "[b=2 c=3 d=4]", "[d=4 c=3 b=2]"},
		{"-", "c", "[a=1 b=2]", "[b=2 a=1]"},
		{"b", "d", "[b=2 c=3]", "[c=3 b=2]"},
		{"bb", "cc", "[c=3]", "[c=3]"},
		{"0", "zz", "[a=1 b=2 c=3 d=4]", "[d=4 c=3 b=2 a=1]"},
		{"c", "c", "[]", "[]"},
		{"d", "b", "[]", "[]"},
		{"e", "-", "[]", "[]"},
		{"-", "a", "[]", "[]"},
		{"-", "a0", "[a=1]", "[a=1]"},
	} {
		for _, rev := range []bool{false, true} {
			it, err := db.Iterator(iodb.IterOptions{Start: b(tc.start), End: b(tc.end), Reverse: rev})
			must(t, err)
			got, want := keys(t, it), tc.fwd
			if rev {
				want = tc.rev
			}
			if got != want {
				t.Errorf("[%s,%s) reverse=%v: %s, want %s", tc.start, tc.end, rev, got, want)
			}
		}
	}
	// Seek within the range, both ways; Domain; panics when invalid.
	it, err := db.Iterator(iodb.IterOptions{Start: []byte("b"), End: []byte("d")})
	must(t, err)
	if s, e := it.Domain(); string(s) != "b" || string(e) != "d" {
		t.Fatal("domain")
	}
	if !it.Seek([]byte("bz")) || string(it.Key()) != "c" || it.Seek([]byte("d")) {
		t.Fatal("forward seek")
	}
	if !it.Seek([]byte("a")) || string(it.Key()) != "b" {
		t.Fatal("forward seek below start")
	}
	it.Close()
	it, err = db.Iterator(iodb.IterOptions{Start: []byte("b"), Reverse: true})
	must(t, err)
	if !it.Seek([]byte("cz")) || string(it.Key()) != "c" || !it.Seek([]byte("c")) || string(it.Key()) != "c" {
		t.Fatal("reverse seek")
	}
	if it.Seek([]byte("a")) {
		t.Fatal("reverse seek below start")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Next on an invalid iterator did not panic")
			}
		}()
		it.Next()
	}()
	it.Close()
	it.Close() // idempotent
	if it.Seek([]byte("a")) || !errors.Is(it.Error(), iodb.ErrClosed) {
		t.Fatal("closed iterator")
	}
	// An iterator reads the head as of its opening.
	it, err = db.Iterator(iodb.IterOptions{})
	must(t, err)
	commit(t, db, "x", "", "a", "")
	if got := keys(t, it); got != "[a=1 b=2 c=3 d=4]" {
		t.Fatalf("iterator saw a later write: %s", got)
	}
}

func TestConcurrentReaders(t *testing.T) {
	db, _ := openTemp(t, nil)
	commit(t, db, "0", "s", "k0", "0")
	const versions = 60
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				h, err := db.Head()
				if err != nil {
					errc <- err
					return
				}
				s, err := db.Snapshot(h)
				if errors.Is(err, iodb.ErrNotFound) {
					continue // the head moved on and was cleaned
				}
				if err != nil {
					errc <- err
					return
				}
				// Inside one snapshot everything agrees.
				v, err := s.Get("s", []byte("k0"))
				if err == nil && string(v) != string(h) {
					err = fmt.Errorf("snapshot %s reads k0=%s", h, v)
				}
				if err == nil && i%4 == g%4 {
					var p, hash []byte
					hash, err = s.CommitHash()
					if err == nil {
						p, err = s.ProveCommit("s", []byte("k0"))
					}
					if err == nil {
						err = iodb.VerifyCommitProof(hash, p, "s", []byte("k0"), v)
					}
				}
				if err == nil {
					var it *iodb.Iterator
					it, err = s.Iterator("s", nil, nil, g%2 == 0)
					n := 0
					for ; err == nil && it.Valid(); it.Next() {
						n++
					}
					if it != nil {
						it.Close()
					}
				}
				s.Close()
				if err != nil {
					errc <- err
					return
				}
			}
		}(g)
	}
	for i := 1; i <= versions; i++ {
		id := fmt.Sprint(i)
		commit(t, db, id, "s", "k0", id, fmt.Sprintf("k%d", i), id)
		if i%20 == 0 {
			must(t, db.Clean(5))
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	db, dir := openTemp(t, nil)
	// Bad arguments.
	if err := db.Update(nil, nil); !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("empty version ID: %v", err)
	}
	b := iodb.NewBatch()
	if err := b.Put("", nil, []byte("v")); !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("empty key: %v", err)
	}
	var e *iodb.Error
	if err := b.Put("bad name!", []byte("k"), []byte("v")); !errors.As(err, &e) || e.Code != iodb.CodeInvalid || e.Msg == "" {
		t.Fatalf("bad store name: %#v", err)
	}
	if err := b.Put("a\x00b", []byte("k"), nil); !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("NUL in a store name: %v", err)
	}
	b.Close()
	b.Close()
	if err := b.Put("", []byte("k"), nil); err != iodb.ErrClosed {
		t.Fatalf("closed batch: %v", err)
	}
	if err := db.Update([]byte("v"), b); err != iodb.ErrClosed {
		t.Fatalf("update with a closed batch: %v", err)
	}
	// Not found: key, version, store; the message of a real failure is carried.
	commit(t, db, "v1", "", "k", "v")
	if _, err := db.Get("", []byte("nokey")); !errors.Is(err, iodb.ErrNotFound) {
		t.Fatalf("absent key: %v", err)
	}
	if _, err := db.CommitHash([]byte("nov")); !errors.Is(err, iodb.ErrNotFound) || !errors.As(err, &e) || e.Msg == "" {
		t.Fatalf("absent version: %v", err)
	}
	if _, err := db.Snapshot([]byte("nov")); !errors.Is(err, iodb.ErrNotFound) {
		t.Fatalf("snapshot of an absent version: %v", err)
	}
	if err := db.Update([]byte("v1"), nil); !errors.Is(err, iodb.ErrExists) || errors.Is(err, iodb.ErrNotFound) {
		t.Fatalf("existing ID: %v", err)
	}
	// A second handle on the same directory is busy.
	if _, err := iodb.Open(dir, nil); !errors.Is(err, iodb.ErrBusy) {
		t.Fatalf("second writer: %v", err)
	}
	// Closed handles.
	must(t, db.Close())
	must(t, db.Close())
	if _, err := db.Get("", []byte("k")); err != iodb.ErrClosed || !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("closed DB: %v", err)
	}
	if err := db.Update([]byte("v2"), nil); err != iodb.ErrClosed {
		t.Fatalf("closed DB update: %v", err)
	}
	// Read-only handles refuse writes and read what is there.
	o := iodb.DefaultOptions()
	o.ReadOnly = true
	ro, err := iodb.Open(dir, &o)
	must(t, err)
	defer ro.Close()
	expectGet(t, ro.Get, "", "k", "v")
	for name, err := range map[string]error{
		"update":   ro.Update([]byte("v2"), nil),
		"rollback": ro.Rollback([]byte("v1")),
		"clean":    ro.Clean(1),
		"flush":    ro.Flush(),
	} {
		if !errors.Is(err, iodb.ErrInvalid) {
			t.Fatalf("read-only %s: %v", name, err)
		}
	}
	if _, err := iodb.Open(filepath.Join(t.TempDir(), "missing"), &o); !errors.Is(err, iodb.ErrNotFound) {
		t.Fatalf("read-only open of nothing: %v", err)
	}
	if err := iodb.Import(t.TempDir(), nil, []byte{1}, bytes.NewReader(nil)); !errors.Is(err, iodb.ErrInvalid) {
		t.Fatalf("import with a short hash: %v", err)
	}
}

func TestExportImport(t *testing.T) {
	db, _ := openTemp(t, nil)
	for i := 0; i < 5; i++ {
		kv := []string{}
		for j := 0; j < 500; j++ {
			kv = append(kv, fmt.Sprintf("key%05d", (i*131+j*7)%2000), fmt.Sprintf("val%d-%d", i, j))
		}
		commit(t, db, fmt.Sprintf("h%d", i+1), "bank", kv...)
		commit(t, db, fmt.Sprintf("h%d-acc", i+1), "acc", fmt.Sprint("a", i), "x")
	}
	hash, err := db.CommitHash(nil)
	must(t, err)
	var stream bytes.Buffer
	must(t, db.Export(nil, &stream))
	// A callback error stops the export and comes back.
	stopErr := errors.New("enough")
	if err := db.ExportFunc(nil, func([]byte) error { return stopErr }); err != stopErr {
		t.Fatalf("export stopped: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "imported")
	// A wrong hash is refused, and so is a damaged stream; nothing is left behind.
	wrong := append([]byte(nil), hash...)
	wrong[0] ^= 1
	if err := iodb.Import(dir, nil, wrong, bytes.NewReader(stream.Bytes())); !errors.Is(err, iodb.ErrProof) {
		t.Fatalf("import with a wrong hash: %v", err)
	}
	damaged := append([]byte(nil), stream.Bytes()...)
	damaged[len(damaged)/2] ^= 0x40
	if err := iodb.Import(dir, nil, hash, bytes.NewReader(damaged)); err == nil {
		t.Fatal("a damaged stream imported")
	}
	must(t, iodb.Import(dir, nil, hash, bytes.NewReader(stream.Bytes())))
	db2, err := iodb.Open(dir, noSync())
	must(t, err)
	defer db2.Close()
	h2, err := db2.CommitHash(nil)
	if err != nil || !bytes.Equal(h2, hash) {
		t.Fatalf("imported hash %x %v", h2, err)
	}
	head, _ := db2.Head()
	if string(head) != "h5-acc" {
		t.Fatalf("imported head %q", head)
	}
	for _, store := range []string{"bank", "acc"} {
		it1, _ := db.Iterator(iodb.IterOptions{Store: store})
		it2, _ := db2.Iterator(iodb.IterOptions{Store: store})
		if a, b := keys(t, it1), keys(t, it2); a != b {
			t.Fatalf("store %s differs after import", store)
		}
	}
}
