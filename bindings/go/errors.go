package edgeformer

/*
#include "edgeformer/edgeformer.h"
*/
import "C"

import "fmt"

// Status is an ef_status code.
type Status int32

// The status codes of edgeformer.h.
const (
	StatusOK             Status = C.EF_OK
	StatusInvalidArg     Status = C.EF_ERR_INVALID_ARG
	StatusNoMemory       Status = C.EF_ERR_NO_MEMORY
	StatusIO             Status = C.EF_ERR_IO
	StatusFormat         Status = C.EF_ERR_FORMAT
	StatusUnsupported    Status = C.EF_ERR_UNSUPPORTED
	StatusBudget         Status = C.EF_ERR_BUDGET
	StatusContextFull    Status = C.EF_ERR_CONTEXT_FULL
	StatusCancelled      Status = C.EF_ERR_CANCELLED
	StatusNotFound       Status = C.EF_ERR_NOT_FOUND
	StatusBufferTooSmall Status = C.EF_ERR_BUFFER_TOO_SMALL
	StatusBackend        Status = C.EF_ERR_BACKEND
	StatusUnavailable    Status = C.EF_ERR_UNAVAILABLE
	StatusState          Status = C.EF_ERR_STATE
	StatusMismatch       Status = C.EF_ERR_MISMATCH
	StatusCorrupt        Status = C.EF_ERR_CORRUPT
	StatusInternal       Status = C.EF_ERR_INTERNAL
)

// String is the code's name, e.g. "EF_ERR_IO".
func (s Status) String() string { return C.GoString(C.ef_status_str(C.ef_status(s))) }

// Error is a failed library call: its status and the library's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Status, e.Message) }

// Is makes errors.Is(err, edgeformer.ErrIO) match any error of that status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is, one per status.
var (
	ErrInvalidArg     = &Error{Status: StatusInvalidArg}
	ErrNoMemory       = &Error{Status: StatusNoMemory}
	ErrIO             = &Error{Status: StatusIO}
	ErrFormat         = &Error{Status: StatusFormat}
	ErrUnsupported    = &Error{Status: StatusUnsupported}
	ErrBudget         = &Error{Status: StatusBudget}
	ErrContextFull    = &Error{Status: StatusContextFull}
	ErrCancelled      = &Error{Status: StatusCancelled}
	ErrNotFound       = &Error{Status: StatusNotFound}
	ErrBufferTooSmall = &Error{Status: StatusBufferTooSmall}
	ErrBackend        = &Error{Status: StatusBackend}
	ErrUnavailable    = &Error{Status: StatusUnavailable}
	ErrState          = &Error{Status: StatusState}
	ErrMismatch       = &Error{Status: StatusMismatch}
	ErrCorrupt        = &Error{Status: StatusCorrupt}
	ErrInternal       = &Error{Status: StatusInternal}
)

func errClosed(what string) error {
	return &Error{Status: StatusState, Message: what + " is closed"}
}
