package edgeformer

/*
#include <stdint.h>
#include <stdlib.h>
#include "edgeformer/edgeformer.h"

extern int32_t efgoProgressCallback(void *user, char *item, uint64_t done, uint64_t total);

static ef_status efgo_quantize_file(const char *in_path, const char *out_path,
                                    const ef_quant_profile *profile, int with_progress,
                                    uintptr_t handle, uint64_t *bytes_in, uint64_t *bytes_out) {
	return ef_quantize_file(in_path, out_path, profile,
	                        with_progress ? (ef_progress_fn)efgoProgressCallback : NULL,
	                        (void *)handle, bytes_in, bytes_out);
}
*/
import "C"

import (
	"runtime/cgo"
	"sync"
	"unsafe"
)

// QuantProfile chooses weight types: "balanced", "fast", "experimental",
// "ternary", "f16", "f32", refined with rules. Close it when done.
type QuantProfile struct {
	mu sync.Mutex
	p  *C.ef_quant_profile
}

// NewQuantProfile creates a named profile.
func NewQuantProfile(name string) (*QuantProfile, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var p *C.ef_quant_profile
	if err := call(func() C.ef_status { return C.ef_quant_profile_create(cn, &p) }); err != nil {
		return nil, err
	}
	return &QuantProfile{p: p}, nil
}

func (q *QuantProfile) handle() (*C.ef_quant_profile, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.p == nil {
		return nil, errClosed("quantization profile")
	}
	return q.p, nil
}

// Close frees the profile.
func (q *QuantProfile) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.p != nil {
		C.ef_quant_profile_free(q.p)
		q.p = nil
	}
	return nil
}

// Name is the profile's name ("custom" after SetDefaultType).
func (q *QuantProfile) Name() string {
	p, err := q.handle()
	if err != nil {
		return ""
	}
	return C.GoString(C.ef_quant_profile_name(p))
}

func (q *QuantProfile) withStrings(f func(p *C.ef_quant_profile, s []*C.char) C.ef_status, strs ...string) error {
	p, err := q.handle()
	if err != nil {
		return err
	}
	cs := make([]*C.char, len(strs))
	for i, s := range strs {
		cs[i] = C.CString(s)
		defer C.free(unsafe.Pointer(cs[i]))
	}
	return call(func() C.ef_status { return f(p, cs) })
}

// SetDefaultType sets the type of every weight no rule matches ("Q4_K").
func (q *QuantProfile) SetDefaultType(typeName string) error {
	return q.withStrings(func(p *C.ef_quant_profile, s []*C.char) C.ef_status {
		return C.ef_quant_profile_set_default_type(p, s[0])
	}, typeName)
}

// AddRule gives tensors matching the glob pattern the type typeName.
func (q *QuantProfile) AddRule(pattern, typeName string) error {
	return q.withStrings(func(p *C.ef_quant_profile, s []*C.char) C.ef_status {
		return C.ef_quant_profile_add_rule(p, s[0], s[1])
	}, pattern, typeName)
}

// KeepEmbeddings keeps the token embedding and output projection at typeName.
func (q *QuantProfile) KeepEmbeddings(typeName string) error {
	return q.withStrings(func(p *C.ef_quant_profile, s []*C.char) C.ef_status {
		return C.ef_quant_profile_keep_embeddings(p, s[0])
	}, typeName)
}

// ProgressFunc receives progress; return true to continue, false to cancel.
type ProgressFunc func(item string, done, total uint64) bool

type quantization struct {
	fn     ProgressFunc
	panicV interface{}
	failed bool
}

// QuantizeFile writes a quantized copy of a GGUF file and returns the tensor
// bytes before and after. progress may be nil.
func QuantizeFile(inPath, outPath string, profile *QuantProfile, progress ProgressFunc) (bytesIn, bytesOut uint64, err error) {
	p, err := profile.handle()
	if err != nil {
		return 0, 0, err
	}
	ci, co := C.CString(inPath), C.CString(outPath)
	defer C.free(unsafe.Pointer(ci))
	defer C.free(unsafe.Pointer(co))
	q := &quantization{fn: progress}
	h := cgo.NewHandle(q)
	defer h.Delete()
	with := C.int(0)
	if progress != nil {
		with = 1
	}
	var in, out C.uint64_t
	err = call(func() C.ef_status {
		return C.efgo_quantize_file(ci, co, p, with, C.uintptr_t(h), &in, &out)
	})
	if q.failed {
		panic(q.panicV)
	}
	return uint64(in), uint64(out), err
}
