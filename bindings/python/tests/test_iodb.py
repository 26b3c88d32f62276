"""Tests of the Python binding (stdlib unittest). Run from ctest (python_binding), or:

    IODB_LIBRARY=BUILD/libiodb.so PYTHONPATH=bindings/python \\
        python3 -m unittest discover -s bindings/python/tests -v
"""

import ctypes
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

import iodb
from iodb import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DATA = os.environ.get("IODB_TEST_DATA") or os.path.join(ROOT, "tests", "data")
EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iodb-py-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name="db"):
        return os.path.join(self.tmp, name)

    def open(self, name="db", **kw):
        kw.setdefault("sync", False)
        db = iodb.DB(self.path(name), **kw)
        self.addCleanup(db.close)
        return db


class TestBasics(TempDirTest):
    def test_open_update_get_head(self):
        db = self.open()
        self.assertIsNone(db.head())
        self.assertIsNone(db.get(b"apple"))
        db.update(b"v1", {b"apple": b"red", b"banana": b"yellow", b"empty": b""})
        self.assertEqual(db.head(), b"v1")
        self.assertEqual(db.get(b"apple"), b"red")
        self.assertEqual(db.get(b"empty"), b"")  # an empty value is a value
        db.update("v2", {"apple": "green", "banana": None})  # str is UTF-8, None deletes
        self.assertEqual(db.get("apple"), b"green")
        self.assertIsNone(db.get(b"banana"))
        self.assertEqual(db.head(), b"v2")
        db.update(b"v3")  # an empty version
        self.assertEqual(db.head(), b"v3")
        self.assertEqual(db.get(b"apple"), b"green")

    def test_bytes_like_inputs(self):
        db = self.open()
        db.update(bytearray(b"v1"), {b"k": memoryview(b"val"), b"\x00\xff": bytearray(b"\x00")})
        with iodb.Batch() as b:
            b.put(bytearray(b"ba"), memoryview(b"mv")[1:], store=b"s")
            b.delete(memoryview(b"k"))
            db.update(memoryview(b"v2"), b)
        self.assertEqual(db.get(b"ba", store="s"), b"v")
        self.assertIsNone(db.get(b"k"))
        db.checkout("v1")
        self.assertEqual(db.get(memoryview(b"k")), b"val")
        self.assertEqual(db.get(b"\x00\xff"), b"\x00")
        self.assertEqual(db.get("k", store=""), b"val")  # "" and None: the default store
        self.assertIsInstance(db.get(b"k"), bytes)

    def test_close_idempotent_and_reopen(self):
        p = self.path()
        with iodb.DB(p, sync=False) as db:
            db.update(b"v1", {b"k": b"1"})
            db.update(b"v2", {b"k": b"2"})
        self.assertTrue(db.closed)
        db.close()
        db.close()
        db = iodb.open(p)
        try:
            self.assertEqual(db.get(b"k"), b"2")
            self.assertEqual(db.head(), b"v2")
            self.assertEqual([v for v, _, _ in db.versions()], [b"v1", b"v2"])
        finally:
            db.close()

    def test_del_is_a_safety_net(self):
        p = self.path()
        db = iodb.DB(p, sync=False)
        db.update(b"v1")
        del db  # __del__ closes it, so the directory can be opened again
        import gc
        gc.collect()
        db = self.open()
        self.assertEqual(db.head(), b"v1")

    def test_stats_and_maintenance(self):
        db = self.open()
        for i in range(5):
            db.update(b"v%d" % i, {b"k%d" % i: b"x" * 100})
        st = db.stats()
        self.assertIsInstance(st, dict)
        self.assertEqual(st["versions"], 5)
        db.flush()
        db.compact()
        db.merkle_snapshot(full=True)
        db.clean(2)
        self.assertEqual([v for v, _, _ in db.versions()], [b"v3", b"v4"])
        self.assertEqual(db.get(b"k0"), b"x" * 100)

    def test_keep_versions_option(self):
        db = self.open(keep_versions=3)
        for i in range(6):
            db.update(b"v%d" % i, {b"k": b"%d" % i})
        self.assertEqual(len(db.versions()), 3)

    def test_options_struct_layout(self):
        """ctypes' iodb_options matches the C header's offsets (needs cc)."""
        cc = shutil.which("cc")
        inc = os.path.join(ROOT, "include")
        if cc is None or not os.path.exists(os.path.join(inc, "iodb.h")):
            self.skipTest("no cc or no include/iodb.h")
        fields = [f for f, _ in _lib.Options._fields_ if f != "_reserved"]
        src = "#include <stdio.h>\n#include <stddef.h>\n#include <iodb.h>\nint main(void){\n"
        src += 'printf("%zu\\n", sizeof(iodb_options));\n'
        for f in fields:
            src += 'printf("%%zu\\n", offsetof(iodb_options, %s));\n' % f
        src += "return 0;}\n"
        c = os.path.join(self.tmp, "off.c")
        exe = os.path.join(self.tmp, "off")
        with open(c, "w") as fh:
            fh.write(src)
        subprocess.run([cc, "-I", inc, c, "-o", exe], check=True)
        out = [int(x) for x in subprocess.run([exe], check=True, capture_output=True,
                                              text=True).stdout.split()]
        self.assertEqual(out[1:], [getattr(_lib.Options, f).offset for f in fields])
        self.assertEqual(out[0], _lib.Options._reserved.offset)


class TestBatch(TempDirTest):
    def test_batch_across_stores(self):
        db = self.open()
        with iodb.Batch() as b:
            b.put(b"apple", b"red").put(b"count", b"2", store="fruit")
            b.put(b"alice", b"100", store="bank").delete(b"nothing", store="bank")
            self.assertEqual(len(b), 4)
            db.update(b"v1", b)
            b.clear()
            self.assertEqual(len(b), 0)
            b.put(b"alice", b"90", store="bank")
            b.delete(b"count", store="fruit")
            b.put(b"x", b"1", store="bank")
            b.put(b"x", b"2", store="bank")  # the last operation on a key wins
            db.update(b"v2", b)
        self.assertEqual(db.get(b"apple"), b"red")
        self.assertIsNone(db.get(b"apple", store="fruit"))
        self.assertIsNone(db.get(b"count", store="fruit"))
        self.assertEqual(db.get(b"alice", store="bank"), b"90")
        self.assertEqual(db.get(b"x", store="bank"), b"2")
        with db.snapshot(b"v1") as s:
            self.assertEqual(s.get(b"count", store="fruit"), b"2")
            self.assertEqual(s.stores(), db.stores(b"v1"))
        self.assertEqual([n for n, _ in db.stores()], ["", "bank", "fruit"])
        db.sync()

    def test_mapping_with_store(self):
        db = self.open()
        db.update(b"v1", {b"a": b"1"}, store="s1")
        self.assertEqual(db.get(b"a", store="s1"), b"1")
        self.assertIsNone(db.get(b"a"))

    def test_closed_batch(self):
        b = iodb.Batch()
        b.close()
        b.close()
        with self.assertRaises(iodb.InvalidArgument):
            b.put(b"k", b"v")


class TestBranches(TempDirTest):
    def test_checkout_branch_rollback(self):
        db = self.open()
        db.update(b"v1", {b"k": b"1"})
        db.update(b"v2", {b"k": b"2"})
        db.update(b"v3", {b"k": b"3"})
        db.checkout(b"v1")
        self.assertEqual(db.head(), b"v1")
        self.assertEqual(db.get(b"k"), b"1")
        db.update(b"b2", {b"k": b"b"})
        self.assertEqual(db.get(b"k"), b"b")
        vs = db.versions()
        self.assertEqual(vs, [(b"v1", None, 1), (b"v2", b"v1", 2), (b"v3", b"v2", 3),
                              (b"b2", b"v1", 2)])
        self.assertEqual(db.version_tree(),
                         "v1 (height 1)\n"
                         "├─ v2 (height 2)\n"
                         "│  v3 (height 3)\n"
                         "└─ b2 (height 2) (head)\n")
        with db.snapshot(b"v3") as s:
            self.assertEqual(s.get(b"k"), b"3")
        # Rollback to v2 discards v3 (a descendant) but keeps the b2 branch.
        db.rollback(b"v2")
        self.assertEqual(db.head(), b"v2")
        self.assertEqual(db.get(b"k"), b"2")
        self.assertEqual(sorted(v for v, _, _ in db.versions()), [b"b2", b"v1", b"v2"])
        # Rollback to v1 discards both branches.
        db.rollback(b"v1")
        self.assertEqual(db.versions(), [(b"v1", None, 1)])
        # A discarded ID may be used again.
        db.update(b"v2", {b"k": b"again"})
        self.assertEqual(db.get(b"k"), b"again")

    def test_version_errors(self):
        db = self.open()
        db.update(b"v1")
        with self.assertRaises(iodb.Exists) as cm:
            db.update(b"v1")
        self.assertEqual(cm.exception.code, iodb.EEXIST)
        for f in (db.rollback, db.checkout, db.snapshot):
            with self.assertRaises(iodb.NotFound):
                f(b"nope")
        with self.assertRaises(iodb.NotFound):
            db.root_hash(vid=b"nope")

    def test_versions_callback(self):
        db = self.open()
        for i in range(5):
            db.update(b"v%d" % i)
        seen = []
        self.assertIsNone(db.versions(lambda v, p, h: seen.append(v)))
        self.assertEqual(len(seen), 5)
        seen = []
        db.versions(lambda v, p, h: seen.append(v) or len(seen) == 2)  # True stops
        self.assertEqual(seen, [b"v0", b"v1"])


class TestSnapshots(TempDirTest):
    def test_reads_and_merkle_across_rollback(self):
        db = self.open()
        db.update(b"v1", {b"a": b"1"}, store="s")
        db.update(b"v2", {b"a": b"2", b"b": b"2"}, store="s")
        snap = db.snapshot(b"v2")
        self.addCleanup(snap.close)
        root = snap.root_hash("s")
        commit = snap.commit_hash()
        self.assertEqual(root, db.root_hash("s", b"v2"))
        self.assertEqual(commit, db.commit_hash(b"v2"))
        self.assertEqual(snap.version(), (b"v2", 2))
        # Roll v2 back and commit another version under the same ID.
        db.rollback(b"v1")
        db.update(b"v2", {b"a": b"other"}, store="s")
        self.assertNotEqual(db.root_hash("s", b"v2"), root)
        self.assertNotEqual(db.commit_hash(b"v2"), commit)
        # The snapshot still reads and proves the version it pinned.
        self.assertEqual(snap.get(b"a", store="s"), b"2")
        self.assertEqual(snap.get(b"b", store="s"), b"2")
        self.assertEqual(snap.root_hash("s"), root)
        self.assertEqual(snap.commit_hash(), commit)
        iodb.verify_proof(root, snap.prove(b"a", store="s"), b"a", b"2")
        iodb.verify_commit_proof(commit, snap.prove_commit(b"b", store="s"), b"b", b"2",
                                 store="s")
        self.assertEqual(dict(snap.items(store="s")), {b"a": b"2", b"b": b"2"})
        self.assertEqual(db.get(b"a", store="s"), b"other")
        snap.close()
        snap.close()
        with self.assertRaises(iodb.InvalidArgument):
            snap.get(b"a")

    def test_head_snapshot(self):
        db = self.open()
        db.update(b"v1", {b"k": b"1"})
        with db.snapshot() as s:
            db.update(b"v2", {b"k": b"2"})
            self.assertEqual(s.get(b"k"), b"1")
            self.assertEqual(s.vid, b"v1")
            self.assertEqual(s.height, 1)
        self.assertEqual(db.get(b"k"), b"2")


class TestIterators(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.open()
        self.keys = [b"k%02d" % i for i in range(20)]
        self.db.update(b"v1", {k: b"val-" + k for k in self.keys}, store="s")

    def test_full_both_directions(self):
        fwd = list(self.db.items(store="s"))
        self.assertEqual(fwd, [(k, b"val-" + k) for k in self.keys])
        self.assertEqual(list(self.db.items(store="s", reverse=True)), fwd[::-1])
        self.assertEqual(list(self.db.items()), [])  # the default store is empty

    def test_bounds(self):
        db = self.db
        ks = lambda it: [k for k, _ in it]  # noqa: E731
        self.assertEqual(ks(db.items("s", start=b"k05", end=b"k08")), [b"k05", b"k06", b"k07"])
        self.assertEqual(ks(db.items("s", start=b"k05", end=b"k08", reverse=True)),
                         [b"k07", b"k06", b"k05"])
        # Bounds between keys, and past the ends.
        self.assertEqual(ks(db.items("s", start=b"k045", end=b"k065")), [b"k05", b"k06"])
        self.assertEqual(ks(db.items("s", start=b"k045", end=b"k065", reverse=True)),
                         [b"k06", b"k05"])
        self.assertEqual(ks(db.items("s", start=b"k18")), [b"k18", b"k19"])
        self.assertEqual(ks(db.items("s", end=b"k02", reverse=True)), [b"k01", b"k00"])
        self.assertEqual(ks(db.items("s", end=b"zzz", reverse=True))[:2], [b"k19", b"k18"])
        self.assertEqual(ks(db.items("s", start=b"a", end=b"k01")), [b"k00"])
        self.assertEqual(ks(db.items("s", start=b"x")), [])
        self.assertEqual(ks(db.items("s", end=b"a", reverse=True)), [])
        self.assertEqual(ks(db.items("s", start=b"k05", end=b"k05")), [])

    def test_positioning(self):
        with self.db.iterator(store="s") as it:
            self.assertFalse(it.valid)
            self.assertTrue(it.first())
            self.assertEqual(it.item(), (b"k00", b"val-k00"))
            self.assertTrue(it.next())
            self.assertEqual(it.key(), b"k01")
            self.assertTrue(it.last())
            self.assertEqual(it.key(), b"k19")
            self.assertFalse(it.next())
            self.assertFalse(it.valid)
            with self.assertRaises(iodb.InvalidArgument):
                it.key()
            self.assertTrue(it.seek(b"k105"))
            self.assertEqual(it.key(), b"k11")
            self.assertTrue(it.prev())
            self.assertEqual(it.value(), b"val-k10")
            self.assertFalse(it.seek(b"z"))
            # Iterating repositions from the bounds each time.
            self.assertEqual(len(list(it)), 20)
            self.assertEqual(len(list(it)), 20)
        with self.assertRaises(iodb.InvalidArgument):
            it.first()

    def test_iterator_sees_its_version(self):
        it = self.db.iterator(store="s", start=b"k18")
        self.addCleanup(it.close)
        self.db.update(b"v2", {b"k99": b"new", b"k18": None}, store="s")
        self.assertEqual([k for k, _ in it], [b"k18", b"k19"])  # the head as of its open
        self.assertEqual([k for k, _ in self.db.items("s", start=b"k18")], [b"k19", b"k99"])
        with self.db.snapshot(b"v1") as snap:
            self.assertEqual([k for k, _ in snap.items("s", start=b"k18")], [b"k18", b"k19"])
            with snap.iterator("s", reverse=True) as sit:
                self.assertEqual(next(iter(sit))[0], b"k19")

    def test_close_db_closes_open_iterators(self):
        p = self.path("other")
        db = iodb.DB(p, sync=False)
        db.update(b"v1", {b"a": b"1", b"b": b"2"})
        gen = db.items()
        self.assertEqual(next(gen), (b"a", b"1"))
        snap = db.snapshot()
        it = db.iterator(snapshot=snap)
        db.close()  # closes it, gen's iterator and snap first (else iodb_close: EBUSY)
        with self.assertRaises(iodb.InvalidArgument):
            next(gen)
        with self.assertRaises(iodb.InvalidArgument):
            it.first()
        with self.assertRaises(iodb.InvalidArgument):
            snap.get(b"a")


def load_changesets(path):
    cases, case, ver = [], None, None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            t = line.split(" ")
            if t[0] == "case":
                case = {"name": t[1], "initial": int(t[3]), "versions": []}
                cases.append(case)
            elif t[0] == "version":
                ver = {"version": int(t[1]), "ops": [], "root": None}
                case["versions"].append(ver)
            elif t[0] == "set":
                ver["ops"].append((bytes.fromhex(t[1]), b"" if t[2] == "-" else bytes.fromhex(t[2])))
            elif t[0] == "del":
                ver["ops"].append((bytes.fromhex(t[1]), None))
            elif t[0] == "root":
                ver["root"] = t[1]
    return cases


class TestIavlVectors(TempDirTest):
    def test_changesets(self):
        """Every case of tests/data/iavl_changesets.txt (cosmos/iavl v1 vectors), every root
        hash, replayed into store "bank"."""
        cases = load_changesets(os.path.join(DATA, "iavl_changesets.txt"))
        self.assertGreaterEqual(len(cases), 8)
        checked = 0
        for case in cases:
            with self.subTest(case=case["name"]):
                opts = {"sync": False}
                if case["initial"] > 1:
                    opts["initial_height"] = case["initial"]
                with iodb.DB(self.path(case["name"]), **opts) as db, iodb.Batch() as b:
                    for ver in case["versions"]:
                        b.clear()
                        for k, v in ver["ops"]:
                            if v is None:
                                b.delete(k, store="bank")
                            else:
                                b.put(k, v, store="bank")
                        vid = str(ver["version"])
                        db.update(vid, b)
                        try:
                            got = db.root_hash("bank").hex()
                        except iodb.NotFound:
                            got = EMPTY_HASH  # a store no version wrote to yet
                        self.assertEqual(got, ver["root"], "%s v%s" % (case["name"], vid))
                        self.assertEqual(db.version_at_height(ver["version"]), vid.encode())
                        checked += 1
        self.assertGreater(checked, 100)

    def test_public_roots(self):
        """A few published roots (sei-chain TestRootHashes, iavl TestVersionedEmptyTree),
        through the default store."""
        with open(os.path.join(DATA, "iavl_public.json")) as f:
            vectors = json.load(f)
        for n, vec in enumerate(vectors):
            with self.subTest(source=vec["source"]):
                opts = {"sync": False}
                if vec.get("initial_version"):
                    opts["initial_height"] = vec["initial_version"]
                with iodb.DB(self.path("pub%d" % n), **opts) as db:
                    for ver in vec["versions"]:
                        with iodb.Batch() as b:
                            for ch in ver["changes"]:
                                k = bytes.fromhex(ch["key"])
                                if ch.get("delete"):
                                    b.delete(k)
                                else:
                                    b.put(k, bytes.fromhex(ch["value"]))
                            db.update(b"v%d" % ver["version"], b)
                        self.assertEqual(db.root_hash().hex(), ver["root_hash"])
                        self.assertEqual(db.root_hash(vid=b"v%d" % ver["version"]).hex(),
                                         ver["root_hash"])


class TestProofs(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.open()
        self.db.update(b"v1", {b"k%03d" % i: b"v%d" % i for i in range(50)}, store="bank")
        self.db.update(b"v2", {b"k%03d" % i: b"w%d" % i for i in range(0, 50, 7)}, store="bank")
        self.db.update(b"v3", {b"a": b"1"})

    def test_prove_verify(self):
        db = self.db
        root = db.root_hash("bank")
        p = db.prove(b"k007", store="bank")
        self.assertIsInstance(p, bytes)
        iodb.verify_proof(root, p, b"k007", b"w7")
        iodb.verify_proof(root.hex(), p, b"k007", b"w7")  # hex roots are accepted
        db.verify_proof(p, b"k007", b"w7", store="bank")
        with self.assertRaises(iodb.ProofError):
            iodb.verify_proof(root, p, b"k007", b"v7")  # the old value
        with self.assertRaises(iodb.ProofError):
            iodb.verify_proof(root, p, b"k007")  # claimed absent
        with self.assertRaises(iodb.ProofError):
            iodb.verify_proof(db.root_hash("bank", b"v1"), p, b"k007", b"w7")
        # Absence.
        a = db.prove(b"k0075", store="bank")
        iodb.verify_proof(root, a, b"k0075")
        with self.assertRaises(iodb.ProofError):
            iodb.verify_proof(root, a, b"k0075", b"")
        # At an older version.
        p1 = db.prove(b"k007", store="bank", vid=b"v1")
        iodb.verify_proof(db.root_hash("bank", b"v1"), p1, b"k007", b"v7")
        db.verify_proof(p1, b"k007", b"v7", store="bank", vid=b"v1")

    def test_tampered_proofs_rejected(self):
        root = self.db.root_hash("bank")
        p = self.db.prove(b"k014", store="bank")
        rejected = 0
        for i in range(len(p)):
            for bit in (0x01, 0x80):
                t = bytearray(p)
                t[i] ^= bit
                try:
                    iodb.verify_proof(root, t, b"k014", b"w14")
                except (iodb.ProofError, iodb.InvalidArgument):
                    rejected += 1
        self.assertEqual(rejected, 2 * len(p))
        for cut in (0, 1, len(p) // 2, len(p) - 1):
            with self.assertRaises((iodb.ProofError, iodb.InvalidArgument)):
                iodb.verify_proof(root, p[:cut], b"k014", b"w14")
        bad_root = bytes([root[0] ^ 1]) + root[1:]
        with self.assertRaises(iodb.ProofError):
            iodb.verify_proof(bad_root, p, b"k014", b"w14")

    def test_prove_commit(self):
        db = self.db
        ch = db.commit_hash()
        p = db.prove_commit(b"k021", store="bank")
        iodb.verify_commit_proof(ch, p, b"k021", b"w21", store="bank")
        db.verify_commit_proof(p, b"k021", b"w21", store="bank")
        with self.assertRaises(iodb.ProofError):
            iodb.verify_commit_proof(ch, p, b"k021", b"v21", store="bank")
        with self.assertRaises((iodb.ProofError, iodb.InvalidArgument)):
            iodb.verify_commit_proof(ch, p, b"k021", b"w21", store="other")
        with self.assertRaises(iodb.ProofError):
            iodb.verify_commit_proof(db.commit_hash(b"v2"), p, b"k021", b"w21", store="bank")
        absent = db.prove_commit(b"nope", store="bank", vid=b"v2")
        iodb.verify_commit_proof(db.commit_hash(b"v2"), absent, b"nope", store="bank")
        for i in range(0, len(p), 3):
            t = bytearray(p)
            t[i] ^= 0x10
            with self.assertRaises((iodb.ProofError, iodb.InvalidArgument)):
                iodb.verify_commit_proof(ch, t, b"k021", b"w21", store="bank")
        # The default store's name would be ICS23's empty key: refused.
        with self.assertRaises(iodb.InvalidArgument):
            db.prove_commit(b"a")

    def test_bad_hash_arguments(self):
        p = self.db.prove(b"k001", store="bank")
        with self.assertRaises(iodb.InvalidArgument):
            iodb.verify_proof(b"\0" * 31, p, b"k001", b"v1")
        with self.assertRaises(iodb.InvalidArgument):
            iodb.verify_proof("zz" * 32, p, b"k001", b"v1")
        with self.assertRaises(iodb.InvalidArgument):
            iodb.verify_commit_proof(None, p, b"k001", b"v1", store="bank")


class TestStores(TempDirTest):
    def test_stores_and_initial_stores(self):
        db = self.open(initial_stores=["acc", "bank", "gov"])
        db.update(b"v1", {b"x": b"1"}, store="bank")
        stores = db.stores()
        self.assertEqual([n for n, _ in stores], ["acc", "bank", "gov"])
        self.assertEqual(dict(stores)["acc"].hex(), EMPTY_HASH)
        self.assertEqual(dict(stores)["bank"], db.root_hash("bank"))
        db.update(b"v2", {b"y": b"1"}, store="zeta")
        self.assertEqual([n for n, _ in db.stores()], ["acc", "bank", "gov", "zeta"])
        self.assertEqual([n for n, _ in db.stores(b"v1")], ["acc", "bank", "gov"])
        db.update(b"v3", {b"d": b"1"})
        self.assertEqual(db.stores()[0][0], "")

    def test_initial_height_and_version_at_height(self):
        db = self.open(initial_height=100)
        for i in range(5):
            db.update(b"h%d" % i)
        self.assertEqual(db.versions()[0], (b"h0", None, 100))
        self.assertEqual(db.version_at_height(102), b"h2")
        with self.assertRaises(iodb.NotFound):
            db.version_at_height(99)
        with self.assertRaises(iodb.NotFound):
            db.version_at_height(105)
        with self.assertRaises(iodb.InvalidArgument):
            db.version_at_height(-1)

    def test_merkle_off(self):
        db = self.open(merkle=False)
        db.update(b"v1", {b"k": b"v"}, store="s")
        self.assertEqual(db.get(b"k", store="s"), b"v")
        self.assertEqual(db.stores(), [("", b"\0" * 32), ("s", b"\0" * 32)])


class TestReadOnly(TempDirTest):
    def test_read_only_handles(self):
        p = self.path()
        with iodb.DB(p, sync=False) as w:
            w.update(b"v1", {b"k": b"1"})
            with self.assertRaises(iodb.Busy):
                iodb.DB(p, read_only=True)  # a writer holds it
        r1 = iodb.DB(p, read_only=True)
        r2 = iodb.DB(p, read_only=True)  # read-only handles share it
        try:
            self.assertTrue(r1.read_only)
            self.assertEqual(r1.get(b"k"), b"1")
            self.assertEqual(r2.head(), b"v1")
            self.assertEqual(r1.commit_hash(), r2.commit_hash())
            for write in (lambda: r1.update(b"v2"), lambda: r1.rollback(b"v1"),
                          lambda: r1.checkout(b"v1"), lambda: r1.clean(1), r1.flush,
                          r1.compact, r1.merkle_snapshot):
                with self.assertRaises(iodb.InvalidArgument) as cm:
                    write()
                self.assertIn("read-only", str(cm.exception))
            with self.assertRaises(iodb.Busy):
                iodb.DB(p)  # no writer while readers are open
        finally:
            r1.close()
            r2.close()
        with self.assertRaises(iodb.NotFound):
            iodb.DB(self.path("missing"), read_only=True)

    def test_two_writers_busy(self):
        db = self.open()
        with self.assertRaises(iodb.Busy) as cm:
            iodb.DB(self.path())
        self.assertEqual(cm.exception.code, iodb.EBUSY)
        self.assertTrue(cm.exception.errmsg)
        db.update(b"v1")


class TestExportImport(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.open(initial_height=7)
        self.db.update(b"a", {b"k%d" % i: b"v%d" % i for i in range(300)}, store="bank")
        self.db.update(b"b", {b"x": b"1", b"k5": None}, store="bank")
        self.db.update(b"c", {b"d": b""})

    def check_imported(self, path):
        with iodb.DB(path, sync=False) as db2:
            self.assertEqual(db2.versions(), [(b"c", None, 9)])
            self.assertEqual(db2.commit_hash(), self.db.commit_hash())
            self.assertEqual(list(db2.items("bank")), list(self.db.items("bank")))
            self.assertEqual(db2.get(b"d"), b"")

    def test_round_trip_file(self):
        f = self.path("exp.bin")
        n = self.db.export(f)
        self.assertEqual(os.path.getsize(f), n)
        iodb.import_(self.path("imp"), self.db.commit_hash(), f, sync=False)
        self.check_imported(self.path("imp"))

    def test_round_trip_callables(self):
        chunks = []
        self.db.export(chunks.append)
        buf = io.BytesIO()
        self.db.export(buf)
        self.assertEqual(b"".join(chunks), buf.getvalue())
        # An iterator of small chunks, then bytes, then a readable file.
        data = buf.getvalue()
        small = (data[i:i + 1000] for i in range(0, len(data), 1000))
        iodb.import_(self.path("i1"), self.db.commit_hash(), small)
        self.check_imported(self.path("i1"))
        iodb.import_(self.path("i2"), self.db.commit_hash().hex(), data)
        self.check_imported(self.path("i2"))
        iodb.import_(self.path("i3"), self.db.commit_hash(), io.BytesIO(data))
        self.check_imported(self.path("i3"))

    def test_older_version_and_rejections(self):
        data = io.BytesIO()
        self.db.export(data, vid=b"a")
        data = data.getvalue()
        with self.assertRaises(iodb.ProofError):
            iodb.import_(self.path("bad"), self.db.commit_hash(), data)  # c's hash, a's data
        self.assertFalse(os.listdir(self.path("bad")) if os.path.exists(self.path("bad"))
                         else [])
        t = bytearray(data)
        t[len(t) // 2] ^= 1
        with self.assertRaises((iodb.ProofError, iodb.Corrupt, iodb.InvalidArgument)):
            iodb.import_(self.path("bad2"), self.db.commit_hash(b"a"), bytes(t))
        iodb.import_(self.path("ok"), self.db.commit_hash(b"a"), data)
        with iodb.DB(self.path("ok")) as db2:
            self.assertEqual(db2.head(), b"a")
            self.assertEqual(db2.get(b"k5", store="bank"), b"v5")

    def test_callback_exceptions_propagate(self):
        class Boom(Exception):
            pass

        def sink(chunk):
            raise Boom("sink")

        with self.assertRaises(Boom):
            self.db.export(sink)
        f = self.path("partial.bin")

        class BadFile:
            def write(self, b):
                raise Boom("write")

        with self.assertRaises(Boom):
            self.db.export(BadFile())

        def source():
            raise Boom("source")

        with self.assertRaises(Boom):
            iodb.import_(self.path("imp"), self.db.commit_hash(), source)
        self.assertFalse(os.path.exists(self.path("imp")) and os.listdir(self.path("imp")))

        stream = io.BytesIO()
        self.db.export(stream)

        def gen():
            yield stream.getvalue()[:1000]  # a good start: the import asks for more
            raise Boom("gen")

        with self.assertRaises(Boom):
            iodb.import_(self.path("imp2"), self.db.commit_hash(), gen())

        def vcb(vid, parent, height):
            raise Boom("versions")

        with self.assertRaises(Boom):
            self.db.versions(vcb)
        # The DB is fine afterwards.
        self.assertEqual(self.db.head(), b"c")
        self.assertFalse(os.path.exists(f))


class TestErrors(TempDirTest):
    def test_bad_arguments(self):
        db = self.open()
        db.update(b"v1", {b"k": b"v"})
        cases = [
            lambda: db.get(b""),                          # keys are 1-65535 bytes
            lambda: db.get(b"k" * 65536),
            lambda: db.get(123),                          # not bytes
            lambda: db.get(b"k", store="bad name!"),      # store name characters
            lambda: db.get(b"k", store="s" * 65),         # store name length
            lambda: db.get(b"k", store="a\0b"),
            lambda: db.update(b""),                       # version IDs are 1-255 bytes
            lambda: db.update(b"x" * 256),
            lambda: db.update(b"v2", [1, 2]),
            lambda: db.clean(0),
            lambda: db.clean(-1),
            lambda: iodb.Batch().put(b"", b"v"),
            lambda: iodb.DB(self.path("o"), keep_versions=-1),
            lambda: iodb.DB(self.path("o"), initial_height=0),
            lambda: iodb.DB(self.path("o"), sync=2),
            lambda: iodb.DB(self.path("o"), initial_stores="bank"),
            lambda: iodb.DB(self.path("o"), initial_stores=["bad name"]),
        ]
        for i, case in enumerate(cases):
            with self.subTest(case=i):
                with self.assertRaises(iodb.InvalidArgument) as cm:
                    case()
                self.assertEqual(cm.exception.code, iodb.EINVAL)
                self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(TypeError):
            iodb.DB(self.path("o"), no_such_option=1)
        self.assertEqual(db.get(b"k"), b"v")

    def test_error_carries_code_and_message(self):
        db = self.open()
        try:
            db.get(b"k", store="bad name!")
        except iodb.IodbError as e:
            self.assertEqual(e.code, iodb.EINVAL)
            self.assertEqual(e.call, "iodb_get")
            self.assertTrue(e.errmsg)
            self.assertIn(e.errmsg, str(e))
        else:
            self.fail("no error")
        self.assertTrue(issubclass(iodb.NotFound, LookupError))
        for cls in (iodb.NotFound, iodb.Exists, iodb.Corrupt, iodb.IOError_, iodb.Busy,
                    iodb.ProofError, iodb.Canceled, iodb.InvalidArgument):
            self.assertTrue(issubclass(cls, iodb.IodbError))

    def test_closed_db_raises(self):
        db = iodb.DB(self.path(), sync=False)
        db.update(b"v1", {b"k": b"v"})
        db.close()
        for f in (lambda: db.get(b"k"), db.head, lambda: db.update(b"v2"), db.versions,
                  db.stats, db.commit_hash, lambda: db.snapshot(), lambda: db.iterator(),
                  lambda: list(db.items()), db.stores):
            with self.assertRaises(iodb.InvalidArgument) as cm:
                f()
            self.assertIn("closed", str(cm.exception))


class TestThreads(TempDirTest):
    def test_ctypes_releases_the_gil(self):
        # CDLL (not PyDLL): calls are made with the GIL released.
        self.assertFalse(_lib.lib._func_flags_ & ctypes._FUNCFLAG_PYTHONAPI)

    def test_readers_while_one_writes(self):
        db = self.open()
        db.update(b"v0", {b"n": b"0"})
        errors = []
        done = threading.Event()
        N = 150

        def writer():
            try:
                for i in range(1, N + 1):
                    with iodb.Batch() as b:
                        b.put(b"k%04d" % i, b"%d" % i)
                        b.put(b"n", b"%d" % i)
                        db.update(b"v%d" % i, b)
            except BaseException as e:
                errors.append(e)
            finally:
                done.set()

        def reader():
            try:
                reads = 0
                while not done.is_set() or reads < 20:
                    with db.snapshot() as s:
                        n = int(s.get(b"n"))
                        vid, height = s.version()
                        self.assertEqual(vid, b"v%d" % n)
                        if n:
                            self.assertEqual(s.get(b"k%04d" % n), b"%d" % n)
                        self.assertEqual(len(list(s.items(end=b"l"))), n)
                        root = s.root_hash()
                        iodb.verify_proof(root, s.prove(b"n"), b"n", b"%d" % n)
                    db.get(b"n")
                    db.head()
                    reads += 1
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=writer)] + \
                  [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads))
        if errors:
            raise errors[0]
        self.assertEqual(db.get(b"n"), b"%d" % N)
        self.assertEqual(len(db.versions()), N + 1)


class TestDemo(unittest.TestCase):
    def test_demo_runs(self):
        demo = os.path.join(HERE, "..", "examples", "demo.py")
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                [os.path.join(HERE, "..")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
            r = subprocess.run([sys.executable, demo, os.path.join(d, "demo-db")], env=env,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("verified against the commit hash", r.stdout)
            self.assertIn("└─ ", r.stdout)
            self.assertIn("(head)", r.stdout)


if __name__ == "__main__":
    unittest.main()
