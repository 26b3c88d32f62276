package iodb_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"iodb.dev/iodb"
)

// dataDir is tests/data of the source tree (IODB_TEST_DATA overrides it).
func dataDir(t testing.TB) string {
	if d := os.Getenv("IODB_TEST_DATA"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tests", "data")
}

type vecOp struct {
	del        bool
	key, value []byte
}

type vecVersion struct {
	version int64
	ops     []vecOp
	root    []byte
}

type vecCase struct {
	name     string
	initial  int64
	versions []vecVersion
}

func unhex(t testing.TB, s string) []byte {
	if s == "-" {
		return []byte{}
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func loadChangesets(t testing.TB) []vecCase {
	f, err := os.Open(filepath.Join(dataDir(t), "iavl_changesets.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []vecCase
	var c *vecCase
	var v *vecVersion
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		w := strings.Fields(line)
		switch w[0] {
		case "case":
			n, _ := strconv.ParseInt(w[3], 10, 64)
			cases = append(cases, vecCase{name: w[1], initial: n})
			c = &cases[len(cases)-1]
		case "version":
			n, _ := strconv.ParseInt(w[1], 10, 64)
			c.versions = append(c.versions, vecVersion{version: n})
			v = &c.versions[len(c.versions)-1]
		case "set":
			v.ops = append(v.ops, vecOp{key: unhex(t, w[1]), value: unhex(t, w[2])})
		case "del":
			v.ops = append(v.ops, vecOp{del: true, key: unhex(t, w[1])})
		case "root":
			v.root = unhex(t, w[1])
		case "end":
			c = nil
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func vid(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }

func openTemp(t testing.TB, o *iodb.Options) (*iodb.DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	if o == nil {
		d := iodb.DefaultOptions()
		d.Sync = false
		o = &d
	}
	db, err := iodb.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func noSync() *iodb.Options {
	o := iodb.DefaultOptions()
	o.Sync = false
	return &o
}

// replay commits a case's versions into store, checking every root hash.
func replay(t *testing.T, db *iodb.DB, store string, c vecCase) {
	t.Helper()
	b := iodb.NewBatch()
	defer b.Close()
	for _, v := range c.versions {
		b.Clear()
		for _, op := range v.ops {
			var err error
			if op.del {
				err = b.Delete(store, op.key)
			} else {
				err = b.Put(store, op.key, op.value)
			}
			if err != nil {
				t.Fatalf("%s v%d: %v", c.name, v.version, err)
			}
		}
		if err := db.Update(vid(v.version), b); err != nil {
			t.Fatalf("%s v%d: %v", c.name, v.version, err)
		}
		got, err := db.RootHash(vid(v.version), store)
		if err != nil {
			t.Fatalf("%s v%d: %v", c.name, v.version, err)
		}
		if !bytes.Equal(got, v.root) {
			t.Fatalf("%s v%d: root %x, want %x", c.name, v.version, got, v.root)
		}
	}
}

func caseOptions(c vecCase) *iodb.Options {
	o := noSync()
	o.InitialHeight = 1
	if c.initial > 1 {
		o.InitialHeight = uint64(c.initial)
	}
	return o
}

// TestIAVLChangesets replays every case of iavl_changesets.txt through the Go API (the
// default store and a named one) and compares every root hash.
func TestIAVLChangesets(t *testing.T) {
	cases := loadChangesets(t)
	if len(cases) != 10 {
		t.Fatalf("%d cases, want 10", len(cases))
	}
	total := 0
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			for _, store := range []string{"", "bank"} {
				o := caseOptions(c)
				if store != "" {
					o.InitialStores = []string{store} // mounted: empty trees exist
				}
				db, _ := openTemp(t, o)
				replay(t, db, store, c)
				// Every version's root again, at the end (older versions' roots rebuilt).
				for _, v := range c.versions {
					got, err := db.RootHash(vid(v.version), store)
					if err != nil || !bytes.Equal(got, v.root) {
						t.Fatalf("%s store %q v%d again: %x %v", c.name, store, v.version, got, err)
					}
				}
				db.Close()
			}
		})
		total += len(c.versions)
	}
	if total != 513 {
		t.Fatalf("%d versions, want 513", total)
	}
}

// TestIAVLPublic checks iavl_public.json's literal roots (sei-chain TestRootHashes and
// cosmos/iavl TestVersionedEmptyTree) through the default store.
func TestIAVLPublic(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dataDir(t), "iavl_public.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pub []struct {
		Source   string
		Versions []struct {
			Version  int64  `json:"version"`
			RootHash string `json:"root_hash"`
			Changes  []struct {
				Key    string `json:"key"`
				Value  string `json:"value"`
				Delete bool   `json:"delete"`
			} `json:"changes"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(raw, &pub); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pub {
		db, _ := openTemp(t, nil)
		for _, v := range p.Versions {
			b := iodb.NewBatch()
			for _, ch := range v.Changes {
				if ch.Delete {
					b.Delete("", unhex(t, ch.Key))
				} else {
					b.Put("", unhex(t, ch.Key), unhex(t, ch.Value))
				}
			}
			if err := db.Update(vid(v.Version), b); err != nil {
				t.Fatal(err)
			}
			b.Close()
			got, err := db.RootHash(nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != v.RootHash {
				t.Fatalf("%s v%d: %x, want %s", p.Source, v.Version, got, v.RootHash)
			}
			n++
		}
		if strings.Contains(p.Source, "TestVersionedEmptyTree") {
			// The default store is SHA256("") at every version, yet not in the commit
			// hash until written: no stores, so the commit hash is SHA256("") too.
			st, err := db.Stores(nil)
			if err != nil || len(st) != 0 {
				t.Fatalf("empty tree: stores %v %v", st, err)
			}
		}
		db.Close()
	}
	if n != 11 {
		t.Fatalf("%d public roots, want 11", n)
	}
}

// TestIAVLProofs: for every proof of iavl_proofs.txt, the proof iodb generates through Go
// is byte-identical to the fixture, VerifyProof accepts it, and tampered ones are refused.
func TestIAVLProofs(t *testing.T) {
	cases := map[string]vecCase{}
	for _, c := range loadChangesets(t) {
		cases[c.name] = c
	}
	f, err := os.Open(filepath.Join(dataDir(t), "iavl_proofs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dbs := map[string]*iodb.DB{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		w := strings.Fields(line)
		name, ver := w[1], w[2]
		db := dbs[name]
		if db == nil {
			c := cases[name]
			db, _ = openTemp(t, caseOptions(c))
			replay(t, db, "", c)
			dbs[name] = db
		}
		var key, value, root, proof []byte
		key = unhex(t, w[4])
		if w[3] == "exist" {
			value, root, proof = unhex(t, w[5]), unhex(t, w[6]), unhex(t, w[7])
		} else {
			root, proof = unhex(t, w[5]), unhex(t, w[6])
		}
		got, err := db.Prove([]byte(ver), "", key)
		if err != nil {
			t.Fatalf("%s: %v", line[:60], err)
		}
		if !bytes.Equal(got, proof) {
			t.Fatalf("%s %s %x: proof differs from the fixture", name, ver, key)
		}
		if err := iodb.VerifyProof(root, proof, key, value); err != nil {
			t.Fatalf("%s %s %x: %v", name, ver, key, err)
		}
		// Tampered: a flipped byte, a wrong root, the other kind of claim.
		bad := append([]byte(nil), proof...)
		bad[len(bad)/2] ^= 0x01
		if err := iodb.VerifyProof(root, bad, key, value); err == nil {
			t.Fatalf("%s %s %x: tampered proof verified", name, ver, key)
		}
		wrong := append([]byte(nil), root...)
		wrong[0] ^= 0x80
		if err := iodb.VerifyProof(wrong, proof, key, value); !errors.Is(err, iodb.ErrProof) {
			t.Fatalf("%s %s %x: wrong root: %v", name, ver, key, err)
		}
		if value != nil {
			if err := iodb.VerifyProof(root, proof, key, nil); err == nil {
				t.Fatal("an existence proof verified absence")
			}
			if err := iodb.VerifyProof(root, proof, key, append(value, 'x')); err == nil {
				t.Fatal("an existence proof verified a wrong value")
			}
		} else if err := iodb.VerifyProof(root, proof, key, []byte("v")); err == nil {
			t.Fatal("a non-existence proof verified presence")
		}
		n++
	}
	if n != 352 {
		t.Fatalf("%d proofs, want 352", n)
	}
}
