package edgeformer

// Functions exported to C. A file with //export may only declare in its
// preamble, so the C helpers that pass these to the library live in the
// files that use them.

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export efgoTokenCallback
func efgoTokenCallback(user unsafe.Pointer, token C.int32_t, text *C.char, textLen C.size_t) (stop C.int32_t) {
	g := cgo.Handle(uintptr(user)).Value().(*generation)
	if g.failed {
		return 1
	}
	var b []byte
	if textLen > 0 {
		b = C.GoBytes(unsafe.Pointer(text), C.int(textLen))
	}
	g.text = append(g.text, b...)
	if g.fn == nil {
		return 0
	}
	// a panic must not unwind through the library's C frames: stop, re-raise later
	defer func() {
		if r := recover(); r != nil {
			g.panicV, g.failed, stop = r, true, 1
		}
	}()
	if g.fn(int32(token), b) {
		return 0
	}
	return 1
}

//export efgoProgressCallback
func efgoProgressCallback(user unsafe.Pointer, item *C.char, done, total C.uint64_t) (stop C.int32_t) {
	q := cgo.Handle(uintptr(user)).Value().(*quantization)
	if q.failed {
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			q.panicV, q.failed, stop = r, true, 1
		}
	}()
	if q.fn(C.GoString(item), uint64(done), uint64(total)) {
		return 0
	}
	return 1
}

//export efgoLogCallback
func efgoLogCallback(user unsafe.Pointer, level C.int32_t, message *C.char) {
	logMu.RLock()
	fn := logFn
	logMu.RUnlock()
	if fn == nil {
		return
	}
	defer func() { _ = recover() }()
	fn(int32(level), C.GoString(message))
}
