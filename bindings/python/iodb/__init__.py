"""iodb: Python binding (ctypes) of iodb, an embedded versioned key-value store with an IAVL
Merkle layer. See bindings/python/README.md.

    import iodb
    with iodb.DB("/tmp/db", sync=False) as db:
        db.update("v1", {b"apple": b"red"})
        db.get(b"apple")            # b"red"; None when absent

The library is loaded from $IODB_LIBRARY if set, else the installed libiodb.so.0.
"""

from ._lib import LIBRARY_VERSION, lib_path as LIBRARY_PATH
from ._lib import (MAX_KEY, MAX_VALUE, MAX_VID, MAX_STORE_NAME, MAX_HEIGHT,
                   OK, NOTFOUND, EINVAL, EEXIST, ECORRUPT, EIO, ENOMEM, EBUSY, EPROOF,
                   ECANCELED, strerror)
from .errors import (IodbError, NotFound, InvalidArgument, Exists, Corrupt, IOError_,
                     NoMemory, Busy, ProofError, Canceled)
from .db import (DB, Batch, Snapshot, Iterator, OPTION_NAMES, verify_proof,
                 verify_commit_proof, import_, draw_versions)

__version__ = "0.1.0"

open = DB  # iodb.open(path, **options) is DB(path, **options)

__all__ = [
    "DB", "Batch", "Snapshot", "Iterator", "open", "verify_proof", "verify_commit_proof",
    "import_", "draw_versions", "strerror", "OPTION_NAMES", "LIBRARY_VERSION", "LIBRARY_PATH",
    "IodbError", "NotFound", "InvalidArgument", "Exists", "Corrupt", "IOError_", "NoMemory",
    "Busy", "ProofError", "Canceled",
    "MAX_KEY", "MAX_VALUE", "MAX_VID", "MAX_STORE_NAME", "MAX_HEIGHT",
    "OK", "NOTFOUND", "EINVAL", "EEXIST", "ECORRUPT", "EIO", "ENOMEM", "EBUSY", "EPROOF",
    "ECANCELED",
]
