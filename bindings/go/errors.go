package iodb

/*
#include <iodb.h>
*/
import "C"

import "fmt"

// Code is an iodb return code (IODB_NOTFOUND, IODB_EINVAL, ...), always negative.
type Code int

// The iodb return codes (iodb.h).
const (
	CodeNotFound Code = C.IODB_NOTFOUND
	CodeInvalid  Code = C.IODB_EINVAL
	CodeExists   Code = C.IODB_EEXIST
	CodeCorrupt  Code = C.IODB_ECORRUPT
	CodeIO       Code = C.IODB_EIO
	CodeNoMem    Code = C.IODB_ENOMEM
	CodeBusy     Code = C.IODB_EBUSY
	CodeProof    Code = C.IODB_EPROOF
	CodeCanceled Code = C.IODB_ECANCELED
)

// String is iodb_strerror's text for the code.
func (c Code) String() string { return C.GoString(C.iodb_strerror(C.int(c))) }

// Error is a failed iodb call: the return code, the call that failed and
// iodb_errmsg()'s detail as the failing thread saw it.
type Error struct {
	Code Code
	Op   string // the Go method or iodb function that failed
	Msg  string // iodb_errmsg() of the failing call ("" when it gave none)
}

func (e *Error) Error() string {
	s := "iodb"
	if e.Op != "" {
		s += ": " + e.Op
	}
	s += ": " + e.Code.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is makes errors.Is(err, ErrNotFound) (and the other sentinels) true for any *Error
// carrying that code. ErrClosed matches only itself.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == ErrClosed {
		return e == ErrClosed
	}
	return t.Op == "" && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is. Each matches every *Error with its code.
var (
	ErrNotFound = &Error{Code: CodeNotFound}
	ErrInvalid  = &Error{Code: CodeInvalid}
	ErrExists   = &Error{Code: CodeExists}
	ErrCorrupt  = &Error{Code: CodeCorrupt}
	ErrIO       = &Error{Code: CodeIO}
	ErrNoMem    = &Error{Code: CodeNoMem}
	ErrBusy     = &Error{Code: CodeBusy}
	ErrProof    = &Error{Code: CodeProof}
	ErrCanceled = &Error{Code: CodeCanceled}

	// ErrClosed is returned for a call on a closed DB, Batch, Snapshot or Iterator. Its
	// code is CodeInvalid (what iodb returns for a closed handle), so errors.Is(err,
	// ErrInvalid) is true for it as well.
	ErrClosed = &Error{Code: CodeInvalid, Msg: "use of a closed handle"}
)

func newError(op string, rc C.int, msg string) error {
	return &Error{Code: Code(rc), Op: op, Msg: msg}
}

func invalid(op, format string, args ...interface{}) error {
	return &Error{Code: CodeInvalid, Op: op, Msg: fmt.Sprintf(format, args...)}
}
