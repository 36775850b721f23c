// Package edgeformer is the Go binding (cgo) of libedgeformer, an
// embeddable transformer inference library.
//
//	m, err := edgeformer.LoadModel("model.gguf", nil)
//	if err != nil { ... }
//	defer m.Close()
//	s, err := m.NewSession(nil)
//	defer s.Close()
//	s.SetSampler(edgeformer.GreedySampler())
//	text, err := s.Generate("Once upon a time", 32, func(tok int32, piece string) bool {
//		fmt.Print(piece)
//		return true // continue
//	})
//
// Build against a build tree with CGO_LDFLAGS="-L<dir> -Wl,-rpath,<dir>"
// (the headers are found inside the source tree), or against an installed
// library with CGO_CFLAGS/CGO_LDFLAGS from pkg-config edgeformer.
//
// A *Model is safe for concurrent use; a *Session is used by one goroutine
// at a time, except Cancel, which any goroutine may call. Models and
// sessions hold native memory: Close them (they implement io.Closer).
package edgeformer

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -ledgeformer
#include <stdlib.h>
#include "edgeformer/edgeformer.h"
*/
import "C"

import "runtime"

// Version is the loaded library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.ef_version_string()) }

// VersionNumber is MAJOR*1000000 + MINOR*1000 + PATCH of the loaded library.
func VersionNumber() uint32 { return uint32(C.ef_version_number()) }

// HeaderVersionNumber is the version of the header this package was built with.
const HeaderVersionNumber = uint32(C.EF_VERSION_NUMBER)

// LastError is the calling OS thread's last library error message.
func LastError() string { return C.GoString(C.ef_last_error()) }

// TensorTypeName names a GGUF tensor type id ("F32", "Q4_K").
func TensorTypeName(typeID uint32) string {
	return C.GoString(C.ef_tensor_type_name(C.uint32_t(typeID)))
}

// call runs one fallible C call and, on failure, reads its thread-local
// message on the same OS thread (goroutines may move between threads).
func call(f func() C.ef_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.EF_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: C.GoString(C.ef_last_error())}
}
