package edgeformer

/*
#include <stdint.h>
#include "edgeformer/edgeformer.h"

extern void efgoLogCallback(void *user, int32_t level, char *message);

static void efgo_set_log(int on, int32_t max_level) {
	ef_set_log_callback(on ? (ef_log_fn)efgoLogCallback : NULL, NULL, max_level);
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

// Log levels of SetLogCallback.
const (
	LogError = int32(C.EF_LOG_ERROR)
	LogWarn  = int32(C.EF_LOG_WARN)
	LogInfo  = int32(C.EF_LOG_INFO)
	LogDebug = int32(C.EF_LOG_DEBUG)
)

var (
	logMu sync.RWMutex
	logFn func(level int32, message string)
)

// SetLogCallback routes the library's diagnostics up to maxLevel to fn (nil
// discards them). fn may run on library worker threads. Call it before
// creating models.
func SetLogCallback(fn func(level int32, message string), maxLevel int32) {
	logMu.Lock()
	logFn = fn
	logMu.Unlock()
	on := C.int(0)
	if fn != nil {
		on = 1
	}
	C.efgo_set_log(on, C.int32_t(maxLevel))
}

// SetAllocator replaces the library's allocator with C functions
// (ef_malloc_fn, ef_realloc_fn, ef_free_fn; all nil restores the C
// library's). Go functions cannot serve: the memory must not be Go memory.
// No model or session may exist.
func SetAllocator(mallocFn, reallocFn, freeFn, user unsafe.Pointer) error {
	return call(func() C.ef_status {
		return C.ef_set_allocator(C.ef_malloc_fn(mallocFn), C.ef_realloc_fn(reallocFn), C.ef_free_fn(freeFn), user)
	})
}
