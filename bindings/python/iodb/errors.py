"""The exceptions: one class per iodb return code, all under IodbError."""

from . import _lib


class IodbError(Exception):
    """A call of iodb failed. code: the IODB_E* code (negative int); errmsg: iodb_errmsg()'s
    text at the failure (may be ""); call: the iodb function (or binding method) that
    failed."""

    code = None

    def __init__(self, code, errmsg="", call=""):
        self.code = code
        self.errmsg = errmsg
        self.call = call
        text = _lib.strerror(code) if code is not None else "error"
        if errmsg:
            text = "%s: %s" % (text, errmsg)
        if call:
            text = "%s: %s" % (call, text)
        super().__init__(text)

    def __reduce__(self):
        return (self.__class__, (self.code, self.errmsg, self.call))


class NotFound(IodbError, LookupError):
    """IODB_NOTFOUND: a version, store or snapshot root that is absent. (A missing key is not
    an error: get() returns None.)"""


class InvalidArgument(IodbError, ValueError):
    """IODB_EINVAL: a bad argument, a closed handle, or a write on a read-only DB."""


class Exists(IodbError):
    """IODB_EEXIST: the version ID names a retained version."""


class Corrupt(IodbError):
    """IODB_ECORRUPT: bytes on disk fail a check."""


class IOError_(IodbError):
    """IODB_EIO: the OS failed an I/O call (sticky for writes until reopened)."""


class NoMemory(IodbError, MemoryError):
    """IODB_ENOMEM."""


class Busy(IodbError):
    """IODB_EBUSY: the directory is held by another handle or process, or a DB still has
    open snapshots/iterators at close."""


class ProofError(IodbError):
    """IODB_EPROOF: a Merkle proof (or an import's commit hash) does not verify."""


class Canceled(IodbError):
    """IODB_ECANCELED: a callback stopped the call (a Python exception raised in a callback
    is re-raised instead)."""


_BY_CODE = {
    _lib.NOTFOUND: NotFound,
    _lib.EINVAL: InvalidArgument,
    _lib.EEXIST: Exists,
    _lib.ECORRUPT: Corrupt,
    _lib.EIO: IOError_,
    _lib.ENOMEM: NoMemory,
    _lib.EBUSY: Busy,
    _lib.EPROOF: ProofError,
    _lib.ECANCELED: Canceled,
}


def error(rc, call):
    """The exception for return code rc of `call`, with this thread's iodb_errmsg()."""
    return _BY_CODE.get(rc, IodbError)(rc, _lib.errmsg(), call)


def invalid(call, message):
    """An InvalidArgument raised by the binding itself (no C call made)."""
    return InvalidArgument(_lib.EINVAL, message, call)
