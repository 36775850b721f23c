package edgeformer

/*
#include <stdint.h>
#include <stdlib.h>
#include "edgeformer/edgeformer.h"

extern int32_t efgoProgressCallback(void *user, char *item, uint64_t done, uint64_t total);

static ef_status efgo_convert_hf(const char *hf_dir, const char *out_path, const char *type_name,
                                 int with_progress, uintptr_t handle) {
	return ef_convert_hf(hf_dir, out_path, type_name,
	                     with_progress ? (ef_progress_fn)efgoProgressCallback : NULL, (void *)handle);
}
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// ConvertHF converts a Hugging Face checkpoint folder (config.json,
// *.safetensors, tokenizer.json) into one GGUF file. typeName ("f32", "f16",
// "bf16", "q8_0"...; "" = "f16") sets the weight matrices' type; progress
// may be nil. No file is left at outPath on failure.
func ConvertHF(hfDir, outPath, typeName string, progress ProgressFunc) error {
	cd, co := C.CString(hfDir), C.CString(outPath)
	defer C.free(unsafe.Pointer(cd))
	defer C.free(unsafe.Pointer(co))
	var ct *C.char
	if typeName != "" {
		ct = C.CString(typeName)
		defer C.free(unsafe.Pointer(ct))
	}
	q := &quantization{fn: progress}
	h := cgo.NewHandle(q)
	defer h.Delete()
	with := C.int(0)
	if progress != nil {
		with = 1
	}
	err := call(func() C.ef_status { return C.efgo_convert_hf(cd, co, ct, with, C.uintptr_t(h)) })
	if q.failed {
		panic(q.panicV)
	}
	return err
}
