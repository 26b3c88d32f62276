"""Loading libiodb.so and the ctypes prototypes of every function of iodb.h.

Nothing here is public API: the classes in iodb.db wrap it. Every function gets argtypes and
restype, so that ctypes converts (and refuses) arguments with the widths iodb.h declares.
"""

import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int, c_size_t,
                    c_uint, c_uint32, c_uint64, c_void_p)

# The header this binding was written against (include/iodb.h).
HEADER_VERSION_MAJOR = 0
HEADER_VERSION_MINOR = 1
OPTIONS_VERSION = 6

# Return codes.
OK = 0
NOTFOUND = -1
EINVAL = -2
EEXIST = -3
ECORRUPT = -4
EIO = -5
ENOMEM = -6
EBUSY = -7
EPROOF = -8
ECANCELED = -9

MAX_KEY = 65535
MAX_VALUE = 256 << 20
MAX_VID = 255
MAX_STORE_NAME = 64
MAX_HEIGHT = 0x7fffffffffffffff


# A libiodb.so linked with Debian's libjemalloc.so.2 (iodb's own builds no longer do: the
# shared library uses libc malloc) cannot be dlopen-ed into a running process: jemalloc's
# initial-exec TLS needs glibc's static TLS surplus ("cannot allocate memory in static TLS
# block").
TLS_HINT = (" -- this libiodb.so links jemalloc, which cannot be loaded into a running "
            "process by default: rebuild it from iodb's CMake (its shared library uses libc "
            "malloc), or start Python with GLIBC_TUNABLES=glibc.rtld.optional_static_tls="
            "16384 (or LD_PRELOAD=libjemalloc.so.2)")


def _why(e):
    text = str(e)
    return text + TLS_HINT if "static TLS" in text else text


def _load():
    """The library: $IODB_LIBRARY, else the installed soname, else find_library("iodb")."""
    tried = []
    path = os.environ.get("IODB_LIBRARY")
    if path:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            raise ImportError(
                "iodb: cannot load $IODB_LIBRARY=%r: %s (point IODB_LIBRARY at the "
                "libiodb.so of a build tree, e.g. build/libiodb.so)" % (path, _why(e))) \
                from None
    candidates = ["libiodb.so.0"]
    found = ctypes.util.find_library("iodb")
    if found and found not in candidates:
        candidates.append(found)
    for name in candidates:
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append("%s: %s" % (name, _why(e)))
    raise ImportError(
        "iodb: libiodb.so not found (%s). Install the library (cmake --install BUILD_DIR, "
        "then ldconfig) or set IODB_LIBRARY to its path, e.g. "
        "IODB_LIBRARY=/path/to/build/libiodb.so" % "; ".join(tried or ["nothing to try"]))


lib, lib_path = _load()


class Options(Structure):
    """struct iodb_options, options version 6. _reserved leaves room for the fields a later
    library's iodb_options_init may write: it fills the struct it knows, and reads back only
    the fields its `version` says are there."""
    _fields_ = [
        ("version", c_uint),
        ("create_if_missing", c_int),
        ("sync", c_int),
        ("keep_versions", c_uint32),
        ("journal_segment_bytes", c_uint64),
        ("group_commit_bytes", c_uint64),
        ("merkle", c_int),
        ("initial_height", c_uint64),
        ("merkle_threads", c_uint32),
        ("memtable_bytes", c_uint64),
        ("block_cache_bytes", c_uint64),
        ("block_bytes", c_uint32),
        ("auto_compaction", c_int),
        ("compaction_threads", c_uint32),
        ("compaction_task_bytes", c_uint64),
        ("shard_max_bytes", c_uint64),
        ("shard_min_bytes", c_uint64),
        ("slowdown_runs", c_uint32),
        ("snapshot_interval", c_uint64),
        ("incremental_snapshot_interval", c_uint64),
        ("incremental_stores", POINTER(c_char_p)),
        ("n_incremental_stores", c_uint32),
        ("snapshot_keep_recent", c_uint32),
        ("snapshot_writer_limit", c_uint32),
        ("snapshot_replay_ops", c_uint64),
        ("initial_stores", POINTER(c_char_p)),
        ("n_initial_stores", c_uint32),
        ("read_only", c_int),
        ("_reserved", c_char * 512),
    ]


# Callback types.
VERSION_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_uint64)
STORE_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_void_p)
CHUNK_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
NEXT_CHUNK_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), POINTER(c_size_t))

_pp = POINTER(c_void_p)       # void ** (handles and returned buffers)
_psz = POINTER(c_size_t)      # size_t *
_buf = c_char_p               # const void * input buffers: bytes (or None for NULL)
_store = c_char_p             # const char *store: NUL-terminated name, None = default
_hash = c_void_p              # uint8_t[32]: a ctypes array (out) or 32 bytes (in)
_ppc = c_void_p               # void ** on the hot read paths: byref of a POINTER(c_char),
                              # whose slicing copies the bytes fastest

_PROTOS = {
    "iodb_version": (c_int, []),
    "iodb_strerror": (c_char_p, [c_int]),
    "iodb_errmsg": (c_char_p, []),
    "iodb_options_init": (None, [POINTER(Options)]),
    "iodb_open": (c_int, [c_char_p, POINTER(Options), _pp]),
    "iodb_flush": (c_int, [c_void_p]),
    "iodb_sync": (c_int, [c_void_p]),
    "iodb_compact": (c_int, [c_void_p]),
    "iodb_close": (c_int, [c_void_p]),
    "iodb_batch_new": (c_int, [_pp]),
    "iodb_batch_put": (c_int, [c_void_p, _store, _buf, c_size_t, _buf, c_size_t]),
    "iodb_batch_del": (c_int, [c_void_p, _store, _buf, c_size_t]),
    "iodb_batch_clear": (None, [c_void_p]),
    "iodb_batch_free": (None, [c_void_p]),
    "iodb_batch_count": (c_size_t, [c_void_p]),
    "iodb_update": (c_int, [c_void_p, _buf, c_size_t, c_void_p]),
    "iodb_get": (c_int, [c_void_p, _store, _buf, c_size_t, _ppc, _psz]),
    "iodb_free": (None, [c_void_p]),
    "iodb_head": (c_int, [c_void_p, _pp, _psz]),
    "iodb_rollback": (c_int, [c_void_p, _buf, c_size_t]),
    "iodb_checkout": (c_int, [c_void_p, _buf, c_size_t]),
    "iodb_clean": (c_int, [c_void_p, c_uint32]),
    "iodb_versions": (c_int, [c_void_p, VERSION_FN, c_void_p]),
    "iodb_snapshot_open": (c_int, [c_void_p, _buf, c_size_t, _pp]),
    "iodb_snapshot_get": (c_int, [c_void_p, _store, _buf, c_size_t, _ppc, _psz]),
    "iodb_snapshot_close": (None, [c_void_p]),
    "iodb_iter_open": (c_int, [c_void_p, c_void_p, _store, _pp]),
    "iodb_iter_first": (c_int, [c_void_p]),
    "iodb_iter_last": (c_int, [c_void_p]),
    "iodb_iter_seek": (c_int, [c_void_p, _buf, c_size_t]),
    "iodb_iter_next": (c_int, [c_void_p]),
    "iodb_iter_prev": (c_int, [c_void_p]),
    "iodb_iter_valid": (c_int, [c_void_p]),
    "iodb_iter_key": (c_int, [c_void_p, _ppc, _psz]),
    "iodb_iter_value": (c_int, [c_void_p, _ppc, _psz]),
    "iodb_iter_close": (None, [c_void_p]),
    "iodb_root_hash": (c_int, [c_void_p, _buf, c_size_t, _store, _hash]),
    "iodb_commit_hash": (c_int, [c_void_p, _buf, c_size_t, _hash]),
    "iodb_prove": (c_int, [c_void_p, _buf, c_size_t, _store, _buf, c_size_t, _pp, _psz]),
    "iodb_verify_proof": (c_int, [_hash, _buf, c_size_t, _buf, c_size_t, _buf, c_size_t]),
    "iodb_prove_commit": (c_int, [c_void_p, _buf, c_size_t, _store, _buf, c_size_t, _pp,
                                  _psz]),
    "iodb_verify_commit_proof": (c_int, [_hash, _buf, c_size_t, _store, _buf, c_size_t,
                                         _buf, c_size_t]),
    "iodb_snapshot_version": (c_int, [c_void_p, _pp, _psz, POINTER(c_uint64)]),
    "iodb_snapshot_root_hash": (c_int, [c_void_p, _store, _hash]),
    "iodb_snapshot_commit_hash": (c_int, [c_void_p, _hash]),
    "iodb_snapshot_prove": (c_int, [c_void_p, _store, _buf, c_size_t, _pp, _psz]),
    "iodb_snapshot_prove_commit": (c_int, [c_void_p, _store, _buf, c_size_t, _pp, _psz]),
    "iodb_version_at_height": (c_int, [c_void_p, c_uint64, _pp, _psz]),
    "iodb_stores": (c_int, [c_void_p, _buf, c_size_t, STORE_FN, c_void_p]),
    "iodb_snapshot_stores": (c_int, [c_void_p, STORE_FN, c_void_p]),
    "iodb_merkle_snapshot": (c_int, [c_void_p, c_int]),
    "iodb_export": (c_int, [c_void_p, _buf, c_size_t, CHUNK_FN, c_void_p]),
    "iodb_import": (c_int, [c_char_p, POINTER(Options), _hash, NEXT_CHUNK_FN, c_void_p]),
    "iodb_stats": (c_int, [c_void_p, _pp]),
}


class _Functions:
    pass


fn = _Functions()
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        raise ImportError("iodb: %s (%s) lacks %s: a library older than this binding"
                          % (lib_path, "libiodb", _name)) from None
    _f.restype = _res
    _f.argtypes = _args
    setattr(fn, _name[5:], _f)  # fn.get is iodb_get, ...
del _name, _res, _args, _f

LIBRARY_VERSION = fn.version()
if LIBRARY_VERSION // 10000 != HEADER_VERSION_MAJOR or \
        LIBRARY_VERSION < HEADER_VERSION_MAJOR * 10000 + HEADER_VERSION_MINOR * 100:
    raise ImportError("iodb: %s is version %d; this binding needs %d.%d or a later %d.x"
                      % (lib_path, LIBRARY_VERSION, HEADER_VERSION_MAJOR,
                         HEADER_VERSION_MINOR, HEADER_VERSION_MAJOR))


def errmsg():
    m = fn.errmsg()
    return m.decode("utf-8", "replace") if m else ""


def strerror(rc):
    return fn.strerror(rc).decode("utf-8", "replace")
