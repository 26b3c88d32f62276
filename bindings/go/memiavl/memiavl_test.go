package memiavl_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"iodb.dev/iodb"
	"iodb.dev/iodb/memiavl"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, dir string, o memiavl.Options) *memiavl.DB {
	t.Helper()
	o.Dir = dir
	o.CreateIfMissing = true
	o.NoSync = true
	db, err := memiavl.OpenDB(0, o)
	must(t, err)
	return db
}

func cs(name string, kv ...string) *memiavl.NamedChangeSet {
	c := &memiavl.NamedChangeSet{Name: name}
	for i := 0; i+1 < len(kv); i += 2 {
		p := &memiavl.KVPair{Key: []byte(kv[i])}
		if kv[i+1] == "" {
			p.Delete = true
		} else {
			p.Value = []byte(kv[i+1])
		}
		c.Changeset.Pairs = append(c.Changeset.Pairs, p)
	}
	return c
}

func TestMultiTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := open(t, dir, memiavl.Options{InitialStores: []string{"acc", "bank"}})
	defer db.Close()
	if db.Version() != 0 {
		t.Fatal("version of an empty DB")
	}
	must(t, db.ApplyChangeSets([]*memiavl.NamedChangeSet{cs("bank", "alice", "100", "bob", "50")}))
	if err := db.ApplyChangeSets([]*memiavl.NamedChangeSet{cs("acc", "x", "1")}); err == nil {
		t.Fatal("a second ApplyChangeSets in one version")
	}
	if err := db.ApplyChangeSet("nope", cs("nope", "k", "v").Changeset); err == nil {
		t.Fatal("an unknown tree")
	}
	must(t, db.ApplyChangeSet("acc", cs("acc", "x", "1").Changeset))
	wh, err := db.WorkingHash()
	must(t, err)
	wci, err := db.WorkingCommitInfo()
	must(t, err)
	if wci.Version != 1 || !bytes.Equal(wci.Hash(), wh) {
		t.Fatalf("working info %v %x", wci, wh)
	}
	if err := db.ApplyChangeSet("bank", cs("bank", "z", "1").Changeset); err == nil {
		t.Fatal("changes after WorkingHash")
	}
	v, hash, err := db.Commit()
	must(t, err)
	if v != 1 || !bytes.Equal(hash, wh) {
		t.Fatalf("commit %d %x, want 1 %x", v, hash, wh)
	}
	// CommitInfo.Hash computed in Go equals iodb's commit hash.
	if ci := db.LastCommitInfo(); ci.Version != 1 || len(ci.StoreInfos) != 2 || !bytes.Equal(ci.Hash(), hash) {
		t.Fatalf("last commit info %+v", ci)
	}
	for i := 2; i <= 5; i++ {
		must(t, db.ApplyChangeSets([]*memiavl.NamedChangeSet{cs("bank", "alice", fmt.Sprint(100-i), fmt.Sprint("k", i), "v")}))
		v, hash, err = db.Commit()
		must(t, err)
		if v != int64(i) || !bytes.Equal(db.LastCommitInfo().Hash(), hash) {
			t.Fatalf("commit %d", i)
		}
	}
	// An empty commit bumps the version and keeps the hash's roots.
	v, h6, err := db.Commit()
	must(t, err)
	if v != 6 || !bytes.Equal(h6, hash) { // the commit hash covers names and roots only
		t.Fatalf("empty commit %d %x %x", v, h6, hash)
	}
	tree := db.TreeByName("bank")
	if tree == nil || db.TreeByName("nope") != nil {
		t.Fatal("TreeByName")
	}
	if string(tree.Get([]byte("alice"))) != "95" || tree.Has([]byte("carol")) || tree.Get([]byte("carol")) != nil {
		t.Fatal("tree reads")
	}
	it, err := tree.Iterator([]byte("b"), nil, true)
	must(t, err)
	n := 0
	for ; it.Valid(); it.Next() {
		n++
	}
	it.Close()
	rit, err := tree.Iterator(nil, []byte("k3"), true)
	must(t, err)
	if !rit.Valid() || string(rit.Key()) != "alice" {
		t.Fatalf("bounded iterator %v %q %v", rit.Valid(), rit.Key(), rit.Error())
	}
	rit.Close()
	if n != 5 { // bob, k2..k5
		t.Fatalf("iterator saw %d", n)
	}
	p, err := tree.GetProof([]byte("alice"))
	must(t, err)
	must(t, iodb.VerifyProof(tree.RootHash(), p, []byte("alice"), []byte("95")))
	cp, err := tree.GetCommitProof([]byte("carol"))
	must(t, err)
	must(t, iodb.VerifyCommitProof(h6, cp, "bank", []byte("carol"), nil))

	// A read-only view of version 3 survives a rollback to 2 and new commits.
	view, err := db.LoadVersion(3)
	must(t, err)
	h3 := view.LastCommitInfo().Hash()
	must(t, db.RollbackTo(2))
	if db.Version() != 2 {
		t.Fatal("rollback")
	}
	must(t, db.ApplyChangeSets([]*memiavl.NamedChangeSet{cs("bank", "alice", "0")}))
	v, hb, err := db.Commit()
	must(t, err)
	if v != 3 || bytes.Equal(hb, h3) {
		t.Fatal("the new version 3")
	}
	if string(view.TreeByName("bank").Get([]byte("alice"))) != "97" || view.Version() != 3 {
		t.Fatal("the view of version 3 changed")
	}
	if h, _ := view.LastCommitHash(); !bytes.Equal(h, h3) {
		t.Fatal("the view's hash")
	}
	vp, err := view.TreeByName("bank").GetProof([]byte("alice"))
	must(t, err)
	must(t, iodb.VerifyProof(view.TreeByName("bank").RootHash(), vp, []byte("alice"), []byte("97")))
	if _, _, err := view.Commit(); err == nil {
		t.Fatal("a view committed")
	}
	must(t, view.Close())

	// Upgrades add trees.
	must(t, db.ApplyUpgrades([]*memiavl.TreeNameUpgrade{{Name: "staking"}}))
	if err := db.ApplyUpgrades([]*memiavl.TreeNameUpgrade{{Name: "x", RenameFrom: "acc"}}); err == nil {
		t.Fatal("a rename")
	}
	_, _, err = db.Commit()
	must(t, err)
	ci := db.LastCommitInfo()
	if len(ci.StoreInfos) != 3 || ci.StoreInfos[2].Name != "staking" {
		t.Fatalf("after the upgrade: %+v", ci.StoreInfos)
	}
	empty := sha256.Sum256(nil)
	if !bytes.Equal(ci.StoreInfos[2].CommitId.Hash, empty[:]) {
		t.Fatal("a new tree is empty")
	}

	// Export, import, reopen.
	var buf bytes.Buffer
	last := db.Version()
	must(t, db.Export(last, &buf))
	lh, _ := db.LastCommitHash()
	dir2 := filepath.Join(t.TempDir(), "imported")
	must(t, memiavl.Import(dir2, lh, &buf))
	db2, err := memiavl.OpenDB(0, memiavl.Options{Dir: dir2})
	must(t, err)
	if db2.Version() != last || !bytes.Equal(db2.LastCommitInfo().Hash(), lh) {
		t.Fatalf("imported %d", db2.Version())
	}
	must(t, db2.Close())
}

func TestReopenAndTargetVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := open(t, dir, memiavl.Options{InitialVersion: 10, InitialStores: []string{"s"}})
	var hashes []([]byte)
	for i := 0; i < 4; i++ {
		must(t, db.ApplyChangeSets([]*memiavl.NamedChangeSet{cs("s", fmt.Sprint("k", i), "v")}))
		v, h, err := db.Commit()
		must(t, err)
		if v != int64(10+i) {
			t.Fatalf("version %d", v)
		}
		hashes = append(hashes, h)
	}
	// A working version hashed but not committed is dropped at Close.
	must(t, db.ApplyChangeSets([]*memiavl.NamedChangeSet{cs("s", "junk", "v")}))
	_, err := db.WorkingHash()
	must(t, err)
	must(t, db.Close())
	ro, err := memiavl.OpenDB(11, memiavl.Options{Dir: dir, ReadOnly: true})
	must(t, err)
	if ro.Version() != 11 || !bytes.Equal(ro.LastCommitInfo().Hash(), hashes[1]) {
		t.Fatalf("target version 11: %d", ro.Version())
	}
	must(t, ro.Close())
	db, err = memiavl.OpenDB(12, memiavl.Options{Dir: dir, LoadForOverwriting: true})
	must(t, err)
	defer db.Close()
	if db.Version() != 12 || db.TreeByName("s").Has([]byte("k3")) {
		t.Fatal("load for overwriting")
	}
}

// The cosmos/iavl changesets through ApplyChangeSet/Commit, every root compared.
func TestIAVLChangesetsMemiavl(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "..", "..", "tests", "data", "iavl_changesets.txt"))
	must(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var db *memiavl.DB
	var pending memiavl.ChangeSet
	var name string
	n := 0
	unhex := func(s string) []byte {
		if s == "-" {
			return []byte{}
		}
		b, err := hex.DecodeString(s)
		must(t, err)
		return b
	}
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 0 || w[0][0] == '#' {
			continue
		}
		switch w[0] {
		case "case":
			name = w[1]
			var iv uint32
			fmt.Sscan(w[3], &iv)
			db = open(t, filepath.Join(t.TempDir(), name), memiavl.Options{InitialVersion: iv, InitialStores: []string{"evm"}})
		case "version":
			pending = memiavl.ChangeSet{}
		case "set":
			pending.Pairs = append(pending.Pairs, &memiavl.KVPair{Key: unhex(w[1]), Value: unhex(w[2])})
		case "del":
			pending.Pairs = append(pending.Pairs, &memiavl.KVPair{Key: unhex(w[1]), Delete: true})
		case "root":
			must(t, db.ApplyChangeSet("evm", pending))
			v, _, err := db.Commit()
			must(t, err)
			if got := db.TreeByName("evm").RootHash(); hex.EncodeToString(got) != w[1] {
				t.Fatalf("%s v%d: %x, want %s", name, v, got, w[1])
			}
			n++
		case "end":
			must(t, db.Close())
		}
	}
	if n != 513 {
		t.Fatalf("%d versions", n)
	}
}

func TestCommitInfoHashFixtures(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "..", "..", "tests", "data", "commit_info.txt"))
	must(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	ci := &memiavl.CommitInfo{}
	n := 0
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 0 || w[0][0] == '#' {
			continue
		}
		switch w[0] {
		case "store":
			h, _ := hex.DecodeString(w[2])
			ci.StoreInfos = append(ci.StoreInfos, memiavl.StoreInfo{Name: w[1], CommitId: memiavl.CommitID{Hash: h}})
		case "commit":
			if got := hex.EncodeToString(ci.Hash()); got != w[1] {
				t.Fatalf("set %d: %s, want %s", n, got, w[1])
			}
			ci = &memiavl.CommitInfo{}
			n++
		}
	}
	if n != 16 {
		t.Fatalf("%d sets", n)
	}
}
