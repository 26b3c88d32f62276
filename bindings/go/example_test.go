package iodb_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"iodb.dev/iodb"
)

// The README's example: two versions in two stores, a read at an old version, a
// rollback, an iteration and a key proven up to the commit hash.
func Example() {
	tmp, err := os.MkdirTemp("", "iodb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	db, err := iodb.Open(filepath.Join(tmp, "db"), nil) // nil: iodb's default options
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Version "v1": two puts in the default store (""), one in store "fruit".
	b := iodb.NewBatch()
	defer b.Close()
	b.Put("", []byte("apple"), []byte("red"))
	b.Put("", []byte("banana"), []byte("yellow"))
	b.Put("fruit", []byte("count"), []byte("2"))
	if err := db.Update([]byte("v1"), b); err != nil {
		log.Fatal(err)
	}
	// Version "v2": change one key, delete another.
	b.Clear()
	b.Put("", []byte("apple"), []byte("green"))
	b.Delete("", []byte("banana"))
	if err := db.Update([]byte("v2"), b); err != nil {
		log.Fatal(err)
	}

	v, _ := db.Get("", []byte("apple"))
	fmt.Printf("head: apple = %s\n", v)
	if _, err := db.Get("", []byte("banana")); errors.Is(err, iodb.ErrNotFound) {
		fmt.Println("head: banana is deleted")
	}

	// Read "v1" as it was committed.
	snap, err := db.Snapshot([]byte("v1"))
	if err != nil {
		log.Fatal(err)
	}
	v, _ = snap.Get("", []byte("banana"))
	fmt.Printf("v1:   banana = %s\n", v)
	snap.Close()

	// Discard "v2": the head is "v1" again; then the default store in key order.
	if err := db.Rollback([]byte("v1")); err != nil {
		log.Fatal(err)
	}
	it, err := db.Iterator(iodb.IterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for ; it.Valid(); it.Next() {
		fmt.Printf("after rollback: %s = %s\n", it.Key(), it.Value())
	}
	it.Close()

	// Prove fruit/count up to the commit hash (the app hash), then check it as a light
	// client would.
	appHash, _ := db.CommitHash(nil)
	proof, err := db.ProveCommit(nil, "fruit", []byte("count"))
	if err != nil {
		log.Fatal(err)
	}
	if err := iodb.VerifyCommitProof(appHash, proof, "fruit", []byte("count"), []byte("2")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("fruit/count = 2, proven against the commit hash")
	// Output:
	// head: apple = green
	// head: banana is deleted
	// v1:   banana = yellow
	// after rollback: apple = red
	// after rollback: banana = yellow
	// fruit/count = 2, proven against the commit hash
}
