"""iodb from Python: versions on two branches, a proof up to the commit hash, the version tree.

    python3 demo.py [DIR]        (DIR: a new directory; default: one under /tmp, removed after)

Needs the iodb package on PYTHONPATH (bindings/python) and libiodb.so (installed, or
IODB_LIBRARY=/path/to/libiodb.so).
"""

import shutil
import sys
import tempfile

import iodb


def main(path):
    with iodb.DB(path, sync=False, initial_stores=["bank"]) as db:
        # Three versions on the main line: balances in store "bank".
        db.update("block-1", {"alice": "100", "bob": "50"}, store="bank")
        db.update("block-2", {"alice": "90", "carol": "10"}, store="bank")
        with iodb.Batch() as b:
            b.put("bob", "45", store="bank")
            b.delete("carol", store="bank")
            b.put("height", "3")  # the default store
            db.update("block-3", b)
        print("head %s: alice = %s" % (db.head().decode(), db.get("alice", store="bank").decode()))

        # A second branch from block-1 (a fork): check it out and commit on it.
        db.checkout("block-1")
        db.update("fork-2", {"alice": "0", "dave": "100"}, store="bank")
        print("head %s: alice = %s" % (db.head().decode(), db.get("alice", store="bank").decode()))

        # Back to the main line's tip; block-3 is as it was committed.
        db.checkout("block-3")
        app_hash = db.commit_hash()
        print("commit hash of block-3: %s" % app_hash.hex())
        for name, root in db.stores():
            print("  store %-8r root %s" % (name, root.hex()))

        # Prove bank/alice up to the commit hash (a Cosmos ProofOps), then check it as a
        # light client would: with nothing but the commit hash and the proof.
        proof = db.prove_commit("alice", store="bank")
        iodb.verify_commit_proof(app_hash, proof, "alice", "90", store="bank")
        print("bank/alice = 90 verified against the commit hash (%d-byte proof)" % len(proof))
        try:
            iodb.verify_commit_proof(app_hash, proof, "alice", "100", store="bank")
        except iodb.ProofError:
            print("bank/alice = 100 rejected")
        # And an absent key: carol was deleted in block-3.
        absent = db.prove_commit("carol", store="bank")
        iodb.verify_commit_proof(app_hash, absent, "carol", store="bank")
        print("bank/carol absent, verified")

        # The fork's view, through a snapshot.
        with db.snapshot("fork-2") as s:
            print("fork-2: %s" % ", ".join("%s=%s" % (k.decode(), v.decode())
                                          for k, v in s.items(store="bank")))

        print("versions:")
        sys.stdout.write(db.version_tree())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        tmp = tempfile.mkdtemp(prefix="iodb-demo-")
        try:
            main(tmp + "/db")
        finally:
            shutil.rmtree(tmp)
