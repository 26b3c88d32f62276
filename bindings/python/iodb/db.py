"""DB, Batch, Snapshot and Iterator: the thin layer over iodb.h."""

import ctypes
import json
import os
import threading
import weakref

from ctypes import byref, c_char, c_char_p, c_size_t, c_uint64, c_void_p, string_at

from . import _lib
from ._lib import fn, NOTFOUND, ECANCELED
from .errors import error, invalid

_EMPTY = b""
_get, _free = fn.get, fn.free
_iter_key, _iter_value, _iter_next, _iter_prev = fn.iter_key, fn.iter_value, fn.iter_next, \
    fn.iter_prev


# ---- argument conversion ------------------------------------------------------------------

def _bytes(x, what, call):
    """Keys, values and version IDs: bytes as they are; bytearray/memoryview copied; str as
    UTF-8."""
    if type(x) is bytes:
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise invalid(call, "%s must be bytes, bytearray, memoryview or str, not %s"
                  % (what, type(x).__name__))


def _opt_vid(vid, call):
    """A version ID or None (the head): (pointer argument, length)."""
    if vid is None:
        return None, 0
    b = _bytes(vid, "the version ID", call)
    return b, len(b)


def _store(name, call):
    """A store name: None or "" is the default store (passed as NULL)."""
    if name is None:
        return None
    b = name if type(name) is bytes else _bytes(name, "the store name", call)
    if not b:
        return None
    if b"\0" in b:
        raise invalid(call, "the store name contains a NUL byte")
    return b


def _hash32(h, what, call):
    """A 32-byte hash: bytes-like, or a str of 64 hex digits."""
    if isinstance(h, str):
        try:
            h = bytes.fromhex(h)
        except ValueError:
            raise invalid(call, "%s is a str but not hex" % what) from None
    elif isinstance(h, (bytes, bytearray, memoryview)):
        h = bytes(h)
    else:
        raise invalid(call, "%s must be 32 bytes (or 64 hex digits), not %s"
                      % (what, type(h).__name__))
    if len(h) != 32:
        raise invalid(call, "%s must be 32 bytes, not %d" % (what, len(h)))
    return h


def _uint(x, bits, what, call):
    if isinstance(x, bool) or not isinstance(x, int):
        raise invalid(call, "%s must be an int, not %s" % (what, type(x).__name__))
    if x < 0 or x >> bits:
        raise invalid(call, "%s = %d is out of range (0 to 2^%d-1)" % (what, x, bits))
    return x


def _copy(addr, n):
    """n bytes at addr as bytes (faster than ctypes.string_at)."""
    return (c_char * n).from_address(addr).raw if n else _EMPTY


def _take(p, n):
    """Copy a buffer iodb returned, then free it with iodb_free."""
    try:
        return _copy(p.value, n.value) if p.value else _EMPTY
    finally:
        fn.free(p)


_tls = threading.local()


def _outs():
    """This thread's (char *, size_t, byref of each) for the hot read paths (get, iterator
    key/value), whose results are consumed before any other Python code of this thread can
    run a call that uses them (no callback is involved)."""
    try:
        return _tls.outs
    except AttributeError:
        p, n = ctypes.POINTER(c_char)(), c_size_t()
        o = _tls.outs = (p, n, byref(p), byref(n))
        return o


def _hash_out():
    return (ctypes.c_uint8 * 32)()


# ---- options ------------------------------------------------------------------------------

_NAME_LISTS = {"incremental_stores": "n_incremental_stores",
               "initial_stores": "n_initial_stores"}
_NUMERIC = {}
for _f, _t in _lib.Options._fields_:
    if _f in ("version", "_reserved") or _f in _NAME_LISTS or _f.startswith("n_"):
        continue
    _NUMERIC[_f] = _t
del _f, _t
OPTION_NAMES = tuple(sorted(list(_NUMERIC) + list(_NAME_LISTS)))


def _options(kw, call):
    """An iodb_options from keyword arguments, plus the objects it points into (to keep
    alive during the call)."""
    o = _lib.Options()
    fn.options_init(byref(o))
    keep = []
    for name, value in kw.items():
        if name in _NAME_LISTS:
            if value is None:
                continue
            if isinstance(value, (str, bytes)):
                raise invalid(call, "%s must be a list of store names, not one name" % name)
            names = []
            for s in value:
                b = _bytes(s, "a name in " + name, call)
                if b"\0" in b:
                    raise invalid(call, "a name in %s contains a NUL byte" % name)
                names.append(b)
            arr = (c_char_p * max(len(names), 1))(*names)
            keep.append(arr)
            setattr(o, name, ctypes.cast(arr, type(getattr(o, name))) if names else None)
            setattr(o, _NAME_LISTS[name], len(names))
        elif name in _NUMERIC:
            t = _NUMERIC[name]
            if t is ctypes.c_int:  # the int options are flags
                if isinstance(value, bool) or value in (0, 1):
                    value = int(value)
                else:
                    raise invalid(call, "%s must be a bool" % name)
            else:
                value = _uint(value, ctypes.sizeof(t) * 8, name, call)
            setattr(o, name, value)
        else:
            raise TypeError("unknown iodb option %r (known: %s)" % (name, ", ".join(OPTION_NAMES)))
    return o, keep


# ---- callbacks ----------------------------------------------------------------------------

class _Callback:
    """Wraps a Python function as a C callback: an exception stops the C call (the wrapper
    returns 1, iodb returns IODB_ECANCELED) and is kept to be re-raised by finish()."""

    def __init__(self, ctype, func):
        self.exc = None
        self.stopped = False

        def wrapper(*args):
            try:
                if func(*args):
                    self.stopped = True
                    return 1
                return 0
            except BaseException as e:  # noqa: B036 - KeyboardInterrupt must stop it too
                self.exc = e
                return 1

        self.c = ctype(wrapper)  # kept alive by self for the duration of the call

    def finish(self, rc, call):
        if rc == ECANCELED and self.exc is not None:
            e, self.exc = self.exc, None
            raise e
        if rc == ECANCELED and self.stopped:
            return
        if rc:
            raise error(rc, call)


# ---- Batch --------------------------------------------------------------------------------

class Batch:
    """A batch of puts and deletes, in the order added (iodb_batch). Not tied to a DB: commit
    it with DB.update(vid, batch). One thread at a time."""

    def __init__(self):
        self._h = None
        h = c_void_p()
        rc = fn.batch_new(byref(h))
        if rc:
            raise error(rc, "iodb_batch_new")
        self._h = h.value

    def _handle(self, call):
        h = self._h
        if h is None:
            raise invalid(call, "the batch is closed")
        return h

    def put(self, key, value, store=None):
        k = _bytes(key, "the key", "iodb_batch_put")
        v = _bytes(value, "the value", "iodb_batch_put")
        rc = fn.batch_put(self._handle("iodb_batch_put"), _store(store, "iodb_batch_put"),
                          k, len(k), v, len(v))
        if rc:
            raise error(rc, "iodb_batch_put")
        return self

    def delete(self, key, store=None):
        k = _bytes(key, "the key", "iodb_batch_del")
        rc = fn.batch_del(self._handle("iodb_batch_del"), _store(store, "iodb_batch_del"),
                          k, len(k))
        if rc:
            raise error(rc, "iodb_batch_del")
        return self

    def clear(self):
        fn.batch_clear(self._handle("iodb_batch_clear"))

    def __len__(self):
        return fn.batch_count(self._handle("iodb_batch_count"))

    def close(self):
        """Free the batch (iodb_batch_free). Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            fn.batch_free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<iodb.Batch %s>" % ("closed" if self._h is None else "of %d ops" % len(self))


# ---- Iterator -----------------------------------------------------------------------------

class Iterator:
    """An iterator over one store at the head (as of its opening) or at a snapshot
    (iodb_iter). Position it with first/last/seek/next/prev (True when on an entry), read
    key()/value(); or iterate it: `for key, value in it` walks [start, end) in key order
    (reverse=True: from the end), repositioning from the bound each time. One thread at a
    time; a context manager."""

    def __init__(self, db, snapshot=None, store=None, start=None, end=None, reverse=False):
        call = "iodb_iter_open"
        self._h = None
        self._db = db
        self._snapshot = snapshot
        self.store = store
        self.start = None if start is None else _bytes(start, "start", call)
        self.end = None if end is None else _bytes(end, "end", call)
        self.reverse = bool(reverse)
        dbh = db._handle(call)
        sh = snapshot._handle(call) if snapshot is not None else None
        h = c_void_p()
        rc = fn.iter_open(dbh, sh, _store(store, call), byref(h))
        if rc:
            raise error(rc, call)
        self._h = h.value
        db._children.add(self)
        if snapshot is not None:
            snapshot._children.add(self)

    def _handle(self, call="iodb_iter"):
        h = self._h
        if h is None:
            raise invalid(call, "the iterator is closed")
        return h

    @staticmethod
    def _moved(rc, call):
        if rc == 0:
            return True
        if rc == NOTFOUND:
            return False
        raise error(rc, call)

    def first(self):
        return self._moved(fn.iter_first(self._handle("iodb_iter_first")), "iodb_iter_first")

    def last(self):
        return self._moved(fn.iter_last(self._handle("iodb_iter_last")), "iodb_iter_last")

    def seek(self, key):
        """Move to the first key >= key."""
        k = _bytes(key, "the key", "iodb_iter_seek")
        return self._moved(fn.iter_seek(self._handle("iodb_iter_seek"), k, len(k)),
                           "iodb_iter_seek")

    def next(self):
        return self._moved(fn.iter_next(self._handle("iodb_iter_next")), "iodb_iter_next")

    def prev(self):
        return self._moved(fn.iter_prev(self._handle("iodb_iter_prev")), "iodb_iter_prev")

    @property
    def valid(self):
        return bool(fn.iter_valid(self._handle("iodb_iter_valid")))

    def key(self):
        p, n, bp, bn = _outs()
        rc = _iter_key(self._handle("iodb_iter_key"), bp, bn)
        if rc:
            raise error(rc, "iodb_iter_key")
        return p[:n.value]  # borrowed: copied, not freed

    def value(self):
        p, n, bp, bn = _outs()
        rc = _iter_value(self._handle("iodb_iter_value"), bp, bn)
        if rc:
            raise error(rc, "iodb_iter_value")
        return p[:n.value]

    def item(self):
        return self.key(), self.value()

    def __iter__(self):
        start, end, reverse = self.start, self.end, self.reverse
        if not reverse:
            ok = self.seek(start) if start is not None else self.first()
            step, stop, call = _iter_next, end, "iodb_iter_next"
        else:
            if end is not None:
                ok = self.prev() if self.seek(end) else self.last()
            else:
                ok = self.last()
            step, stop, call = _iter_prev, start, "iodb_iter_prev"
        if not ok:
            return
        # The loop of key(), value(), next() inlined: this is the binding's hottest path.
        p, n, bp, bn = _outs()
        while True:
            h = self._h
            if h is None:
                raise invalid(call, "the iterator is closed")
            rc = _iter_key(h, bp, bn)
            if rc:
                raise error(rc, "iodb_iter_key")
            k = p[:n.value]
            if stop is not None and (k < stop if reverse else k >= stop):
                return
            rc = _iter_value(h, bp, bn)
            if rc:
                raise error(rc, "iodb_iter_value")
            yield k, p[:n.value]
            h = self._h
            if h is None:
                raise invalid(call, "the iterator is closed")
            rc = step(h)
            if rc:
                if rc == NOTFOUND:
                    return
                raise error(rc, call)

    def close(self):
        """iodb_iter_close. Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            fn.iter_close(h)
        self._snapshot = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _items(db, snapshot, store, start, end, reverse):
    it = Iterator(db, snapshot, store, start, end, reverse)
    try:
        yield from it
    finally:
        it.close()


# ---- Snapshot -----------------------------------------------------------------------------

class Snapshot:
    """A pinned version (iodb_snapshot): reads and Merkle queries about exactly that version,
    whatever rollback, clean or later writes do, until closed. One thread at a time; a
    context manager."""

    def __init__(self, db, vid=None):
        call = "iodb_snapshot_open"
        self._h = None
        self._db = db
        self._children = weakref.WeakSet()
        v, n = _opt_vid(vid, call)
        h = c_void_p()
        rc = fn.snapshot_open(db._handle(call), v, n, byref(h))
        if rc:
            raise error(rc, call)
        self._h = h.value
        db._children.add(self)

    def _handle(self, call="iodb_snapshot"):
        h = self._h
        if h is None:
            raise invalid(call, "the snapshot is closed")
        return h

    def get(self, key, store=None):
        """The key's value at the snapshot's version, or None if absent."""
        k = key if type(key) is bytes else _bytes(key, "the key", "iodb_snapshot_get")
        p, n, bp, bn = _outs()
        rc = fn.snapshot_get(self._handle("iodb_snapshot_get"),
                             None if store is None else _store(store, "iodb_snapshot_get"),
                             k, len(k), bp, bn)
        if rc == 0:
            try:
                return p[:n.value]
            finally:
                _free(p)
        if rc == NOTFOUND:
            return None
        raise error(rc, "iodb_snapshot_get")

    def version(self):
        """(vid, height) of the pinned version."""
        p, n, height = c_void_p(), c_size_t(), c_uint64()
        rc = fn.snapshot_version(self._handle("iodb_snapshot_version"), byref(p), byref(n),
                                 byref(height))
        if rc:
            raise error(rc, "iodb_snapshot_version")
        return _take(p, n), height.value

    @property
    def vid(self):
        return self.version()[0]

    @property
    def height(self):
        return self.version()[1]

    def root_hash(self, store=None):
        h = _hash_out()
        rc = fn.snapshot_root_hash(self._handle("iodb_snapshot_root_hash"),
                                   _store(store, "iodb_snapshot_root_hash"), h)
        if rc:
            raise error(rc, "iodb_snapshot_root_hash")
        return bytes(h)

    def commit_hash(self):
        h = _hash_out()
        rc = fn.snapshot_commit_hash(self._handle("iodb_snapshot_commit_hash"), h)
        if rc:
            raise error(rc, "iodb_snapshot_commit_hash")
        return bytes(h)

    def stores(self):
        """Every store of the pinned version, in name order: a list of (name, root hash)
        (iodb_snapshot_stores)."""
        call = "iodb_snapshot_stores"
        out = []

        def cb(ctx, name, root):
            out.append((name.decode("utf-8", "replace"), string_at(root, 32)))

        c = _Callback(_lib.STORE_FN, cb)
        rc = fn.snapshot_stores(self._handle(call), c.c, None)
        c.finish(rc, call)
        return out

    def prove(self, key, store=None):
        return self._prove(fn.snapshot_prove, "iodb_snapshot_prove", key, store)

    def prove_commit(self, key, store=None):
        return self._prove(fn.snapshot_prove_commit, "iodb_snapshot_prove_commit", key, store)

    def _prove(self, f, call, key, store):
        k = _bytes(key, "the key", call)
        p, n = c_void_p(), c_size_t()
        rc = f(self._handle(call), _store(store, call), k, len(k), byref(p), byref(n))
        if rc:
            raise error(rc, call)
        return _take(p, n)

    def iterator(self, store=None, start=None, end=None, reverse=False):
        """An Iterator over store at this snapshot (close it, or use `with`)."""
        return Iterator(self._db, self, store, start, end, reverse)

    def items(self, store=None, start=None, end=None, reverse=False):
        """A generator of (key, value) over [start, end) at this snapshot; its iterator is
        closed when the generator ends or is closed."""
        return _items(self._db, self, store, start, end, reverse)

    def close(self):
        """iodb_snapshot_close (its open iterators are closed first). Idempotent."""
        if self._h is None:
            return
        for it in list(self._children):
            it.close()
        h, self._h = self._h, None
        fn.snapshot_close(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# ---- DB -----------------------------------------------------------------------------------

class DB:
    """An open store (iodb_open). DB(path, **options): the options are iodb_options's fields
    by name (create_if_missing, sync, keep_versions, merkle, initial_height, initial_stores,
    read_only, ...; see OPTION_NAMES). A context manager; close() is idempotent. One DB may
    be used from many threads at once."""

    def __init__(self, path, **options):
        call = "iodb_open"
        self._h = None
        self._children = weakref.WeakSet()
        self.path = os.fspath(path)
        o, keep = _options(options, call)
        h = c_void_p()
        rc = fn.open(os.fsencode(self.path), byref(o), byref(h))
        del keep
        if rc:
            raise error(rc, call)
        self._h = h.value
        self.read_only = bool(o.read_only)
        self.merkle = bool(o.merkle)

    def _handle(self, call="iodb"):
        h = self._h
        if h is None:
            raise invalid(call, "the DB is closed")
        return h

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """iodb_close; iterators and snapshots still open on this DB are closed first.
        Idempotent. Must not race with other calls on this DB."""
        if self._h is None:
            return
        children = list(self._children)
        for c in children:
            if isinstance(c, Iterator):
                c.close()
        for c in children:
            c.close()
        rc = fn.close(self._h)
        if rc:
            raise error(rc, "iodb_close")
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<iodb.DB %r%s>" % (self.path, " closed" if self._h is None else "")

    # -- writes --

    def update(self, vid, batch=None, store=None):
        """Commit a new version with ID vid, a child of the head (iodb_update). batch: a
        Batch, None (an empty version), or a mapping {key: value, or None to delete} applied
        to `store` in the mapping's order."""
        call = "iodb_update"
        v = _bytes(vid, "the version ID", call)
        h = self._handle(call)
        if batch is None or isinstance(batch, Batch):
            bh = batch._handle(call) if batch is not None else None
            rc = fn.update(h, v, len(v), bh)
            if rc:
                raise error(rc, call)
            return
        if not hasattr(batch, "items"):
            raise invalid(call, "batch must be a Batch, a mapping or None, not %s"
                          % type(batch).__name__)
        with Batch() as b:
            for k, val in batch.items():
                if val is None:
                    b.delete(k, store)
                else:
                    b.put(k, val, store)
            rc = fn.update(h, v, len(v), b._h)
        if rc:
            raise error(rc, call)

    def rollback(self, vid):
        """head := vid, discarding its descendants. NotFound if vid is not retained."""
        v = _bytes(vid, "the version ID", "iodb_rollback")
        rc = fn.rollback(self._handle("iodb_rollback"), v, len(v))
        if rc:
            raise error(rc, "iodb_rollback")

    def checkout(self, vid):
        """head := vid, nothing discarded; the next update branches from it."""
        v = _bytes(vid, "the version ID", "iodb_checkout")
        rc = fn.checkout(self._handle("iodb_checkout"), v, len(v))
        if rc:
            raise error(rc, "iodb_checkout")

    def clean(self, keep):
        """Keep the head's last `keep` ancestors' subtree (iodb_clean)."""
        rc = fn.clean(self._handle("iodb_clean"), _uint(keep, 32, "keep", "iodb_clean"))
        if rc:
            raise error(rc, "iodb_clean")

    def flush(self):
        rc = fn.flush(self._handle("iodb_flush"))
        if rc:
            raise error(rc, "iodb_flush")

    def sync(self):
        """Make every version committed so far durable: one fdatasync (iodb_sync)."""
        rc = fn.sync(self._handle("iodb_sync"))
        if rc:
            raise error(rc, "iodb_sync")

    def compact(self):
        rc = fn.compact(self._handle("iodb_compact"))
        if rc:
            raise error(rc, "iodb_compact")

    def merkle_snapshot(self, full=True):
        """Write a Merkle snapshot of the head now (iodb_merkle_snapshot)."""
        rc = fn.merkle_snapshot(self._handle("iodb_merkle_snapshot"), 1 if full else 0)
        if rc:
            raise error(rc, "iodb_merkle_snapshot")

    # -- reads --

    def get(self, key, store=None):
        """The key's value at the head, or None if absent."""
        k = key if type(key) is bytes else _bytes(key, "the key", "iodb_get")
        h = self._h
        if h is None:
            raise invalid("iodb_get", "the DB is closed")
        p, n, bp, bn = _outs()
        rc = _get(h, None if store is None else _store(store, "iodb_get"), k, len(k), bp, bn)
        if rc == 0:
            try:
                return p[:n.value]
            finally:
                _free(p)
        if rc == NOTFOUND:
            return None
        raise error(rc, "iodb_get")

    def head(self):
        """The head's version ID, or None before the first update."""
        p, n = c_void_p(), c_size_t()
        rc = fn.head(self._handle("iodb_head"), byref(p), byref(n))
        if rc == 0:
            return _take(p, n)
        if rc == NOTFOUND:
            return None
        raise error(rc, "iodb_head")

    def versions(self, callback=None):
        """Every retained version, parents before children, as a list of (vid, parent,
        height) (parent None for the oldest). With callback(vid, parent, height): called for
        each instead (a true return stops the walk; an exception stops it and is
        re-raised), and None is returned."""
        out = []
        func = callback
        if func is None:
            def func(vid, parent, height):
                out.append((vid, parent, height))

        def cb(ctx, vid, vidlen, parent, parentlen, height):
            return func(string_at(vid, vidlen),
                        string_at(parent, parentlen) if parent is not None else None, height)

        c = _Callback(_lib.VERSION_FN, cb)
        rc = fn.versions(self._handle("iodb_versions"), c.c, None)
        c.finish(rc, "iodb_versions")
        return out if callback is None else None

    def version_tree(self):
        """The version tree drawn as text, as `iodb DIR versions` draws it."""
        return draw_versions(self.versions(), self.head())

    def snapshot(self, vid=None):
        """A Snapshot of version vid (None: the head now)."""
        return Snapshot(self, vid)

    def iterator(self, store=None, start=None, end=None, reverse=False, snapshot=None):
        """An Iterator over store at the head as of now (or at snapshot)."""
        return Iterator(self, snapshot, store, start, end, reverse)

    def items(self, store=None, start=None, end=None, reverse=False, snapshot=None):
        """A generator of (key, value) over [start, end) of store at the head (or snapshot),
        in key order or reverse; the C iterator is closed when the generator ends."""
        return _items(self, snapshot, store, start, end, reverse)

    def stats(self):
        """iodb_stats, parsed: a dict."""
        p = c_void_p()
        rc = fn.stats(self._handle("iodb_stats"), byref(p))
        if rc:
            raise error(rc, "iodb_stats")
        try:
            text = ctypes.string_at(p.value)
        finally:
            fn.free(p)
        return json.loads(text.decode("utf-8"))

    # -- Merkle --

    def root_hash(self, store=None, vid=None):
        """The store's IAVL root hash (32 bytes) at vid (None: the head)."""
        call = "iodb_root_hash"
        v, n = _opt_vid(vid, call)
        h = _hash_out()
        rc = fn.root_hash(self._handle(call), v, n, _store(store, call), h)
        if rc:
            raise error(rc, call)
        return bytes(h)

    def commit_hash(self, vid=None):
        """The Cosmos commit-info hash (app hash) at vid (None: the head)."""
        call = "iodb_commit_hash"
        v, n = _opt_vid(vid, call)
        h = _hash_out()
        rc = fn.commit_hash(self._handle(call), v, n, h)
        if rc:
            raise error(rc, call)
        return bytes(h)

    def _prove(self, f, call, key, store, vid):
        v, n = _opt_vid(vid, call)
        k = _bytes(key, "the key", call)
        p, pn = c_void_p(), c_size_t()
        rc = f(self._handle(call), v, n, _store(store, call), k, len(k), byref(p), byref(pn))
        if rc:
            raise error(rc, call)
        return _take(p, pn)

    def prove(self, key, store=None, vid=None):
        """An ICS23 CommitmentProof (bytes) of key's presence or absence in store at vid."""
        return self._prove(fn.prove, "iodb_prove", key, store, vid)

    def prove_commit(self, key, store=None, vid=None):
        """A ProofOps (bytes) of key in store up to the commit hash at vid. store must be a
        named store (the default store is refused)."""
        return self._prove(fn.prove_commit, "iodb_prove_commit", key, store, vid)

    def verify_proof(self, proof, key, value=None, store=None, vid=None, root=None):
        """verify_proof against root (default: this DB's root of store at vid)."""
        if root is None:
            root = self.root_hash(store, vid)
        verify_proof(root, proof, key, value)

    def verify_commit_proof(self, proof, key, value=None, store=None, vid=None,
                            commit_hash=None):
        """verify_commit_proof against commit_hash (default: this DB's at vid)."""
        if commit_hash is None:
            commit_hash = self.commit_hash(vid)
        verify_commit_proof(commit_hash, proof, key, value, store=store)

    def version_at_height(self, height):
        """The ID of the version at height on the head's ancestry (NotFound if none)."""
        call = "iodb_version_at_height"
        p, n = c_void_p(), c_size_t()
        rc = fn.version_at_height(self._handle(call), _uint(height, 64, "height", call),
                                  byref(p), byref(n))
        if rc:
            raise error(rc, call)
        return _take(p, n)

    def stores(self, vid=None):
        """Every store of version vid (None: the head), in name order: a list of (name,
        root hash); name "" is the default store."""
        call = "iodb_stores"
        v, n = _opt_vid(vid, call)
        out = []

        def cb(ctx, name, root):
            out.append((name.decode("utf-8", "replace"), string_at(root, 32)))

        c = _Callback(_lib.STORE_FN, cb)
        rc = fn.stores(self._handle(call), v, n, c.c, None)
        c.finish(rc, call)
        return out

    # -- state sync --

    def export(self, dest, vid=None):
        """Stream version vid's trees (iodb_export) to dest: a path (a new file, removed if
        the export fails), an object with write(), or a callable taking each chunk (bytes).
        An exception raised by dest stops the export and is re-raised. Returns the number
        of bytes exported."""
        call = "iodb_export"
        v, n = _opt_vid(vid, call)
        h = self._handle(call)
        total = [0]
        if isinstance(dest, (str, bytes, os.PathLike)):
            path = dest
            try:
                with open(path, "wb") as f:
                    total[0] = self.export(f.write, vid)
            except BaseException:
                try:
                    os.unlink(path)
                except OSError:
                    pass
                raise
            return total[0]
        sink = dest.write if hasattr(dest, "write") else dest
        if not callable(sink):
            raise invalid(call, "dest must be a path, a writable file or a callable")

        def cb(ctx, chunk, length):
            sink(string_at(chunk, length))
            total[0] += length

        c = _Callback(_lib.CHUNK_FN, cb)
        rc = fn.export(h, v, n, c.c, None)
        c.finish(rc, call)
        return total[0]


# ---- module functions ---------------------------------------------------------------------

def verify_proof(root, proof, key, value=None):
    """Check an ICS23 proof against a store root: with value, that key has that value; with
    value None, that key is absent. Returns None; raises ProofError if it does not verify
    (InvalidArgument for bad arguments)."""
    call = "iodb_verify_proof"
    r = _hash32(root, "root", call)
    p = _bytes(proof, "the proof", call)
    k = _bytes(key, "the key", call)
    v = None if value is None else _bytes(value, "the value", call)
    rc = fn.verify_proof(r, p, len(p), k, len(k), v, 0 if v is None else len(v))
    if rc:
        raise error(rc, call)


def verify_commit_proof(commit_hash, proof, key, value=None, *, store):
    """Check a ProofOps proof from prove_commit against a commit hash: with value, that key
    has that value in store; with value None, that key is absent from it. Returns None;
    raises ProofError if it does not verify."""
    call = "iodb_verify_commit_proof"
    c = _hash32(commit_hash, "commit_hash", call)
    p = _bytes(proof, "the proof", call)
    k = _bytes(key, "the key", call)
    v = None if value is None else _bytes(value, "the value", call)
    rc = fn.verify_commit_proof(c, p, len(p), _store(store, call), k, len(k), v,
                                0 if v is None else len(v))
    if rc:
        raise error(rc, call)


_CHUNK = 256 << 10


def _chunk_source(source, call):
    """A function returning the next chunk (b"" at the end) of an export stream given as a
    path, bytes-like, readable file, callable or iterable of bytes."""
    if isinstance(source, (str, os.PathLike)):
        f = open(source, "rb")
        return (lambda: f.read(_CHUNK)), f
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(bytes(source))
        pos = [0]

        def nxt():
            c = data[pos[0]:pos[0] + _CHUNK]
            pos[0] += len(c)
            return c
        return nxt, None
    if hasattr(source, "read"):
        return (lambda: source.read(_CHUNK)), None
    if callable(source):
        return source, None
    try:
        it = iter(source)
    except TypeError:
        raise invalid(call, "source must be a path, bytes, a readable file, a callable or "
                            "an iterable of bytes") from None
    return (lambda: next(it, b"")), None


def import_(path, commit_hash, source, **options):
    """Rebuild a store in directory path (missing or empty) from an export stream
    (iodb_import); the stream must come out with commit_hash (else ProofError, nothing
    written). source: a path, bytes, a readable file, a callable returning the next chunk
    (b"" or None at the end) or an iterable of chunks; an exception it raises stops the
    import and is re-raised. options: as DB's (merkle and initial_height are set by the
    import)."""
    call = "iodb_import"
    c = _hash32(commit_hash, "commit_hash", call)
    o, keep = _options(options, call)
    nxt, closer = _chunk_source(source, call)
    held = [None, None]

    def cb(ctx, pchunk, plen):
        data = nxt()
        if not data:
            held[0] = held[1] = None
            pchunk[0] = None
            plen[0] = 0
            return 0
        data = data if type(data) is bytes else bytes(data)
        ptr = c_char_p(data)
        held[0], held[1] = data, ptr  # valid until the next call
        pchunk[0] = ctypes.cast(ptr, c_void_p).value
        plen[0] = len(data)
        return 0

    cbk = _Callback(_lib.NEXT_CHUNK_FN, cb)
    try:
        rc = _import(os.fsencode(os.fspath(path)), byref(o), c, cbk.c, None)
    finally:
        if closer is not None:
            closer.close()
    del keep
    cbk.finish(rc, call)


_import = getattr(fn, "import")  # iodb_import (`import` is a keyword)


def draw_versions(versions, head=None):
    """The version tree of versions() as text, one version a line, as the CLI's `versions`:
    a lone child continues its parent's column, siblings get ├─ / └─ one column deeper;
    the head is marked."""
    index = {}
    children = {}
    roots = []
    for vid, parent, height in versions:
        index[vid] = height
    for vid, parent, height in versions:
        if parent is not None and parent in index:
            children.setdefault(parent, []).append(vid)
        else:
            roots.append(vid)
    NONE, MID, LAST = 0, 1, 2
    lines = []
    last = []  # per column: its sibling list has ended

    def frames(sibs, depth):
        out = []
        for i, v in enumerate(sibs):
            conn = NONE if len(sibs) == 1 else LAST if i == len(sibs) - 1 else MID
            out.append((v, depth, conn))
        return out[::-1]  # the first pops first

    stack = frames(roots, 0)
    while stack:
        vid, depth, conn = stack.pop()
        line = "".join("   " if last[i] else "│  " for i in range(depth))
        if conn != NONE:
            line += "└─ " if conn == LAST else "├─ "
        line += "%s (height %d)" % (vid.decode("utf-8", "backslashreplace"), index[vid])
        if head is not None and vid == head:
            line += " (head)"
        lines.append(line)
        if conn != NONE:
            del last[depth:]
            last.append(conn == LAST)
            depth += 1
        stack.extend(frames(children.get(vid, []), depth))
    return "\n".join(lines) + ("\n" if lines else "")
