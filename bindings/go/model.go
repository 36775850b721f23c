package edgeformer

/*
#include <stdlib.h>
#include "edgeformer/edgeformer.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

// ModelOptions are the options of LoadModel; nil means defaults.
type ModelOptions struct {
	Threads      int32         // threads used while loading; 0 = all cores
	NoMmap       bool          // read the file into memory instead of mapping it
	Backend      string        // "" = the library's default ("cpu")
	QuantProfile *QuantProfile // quantize the weights in memory while loading
}

// TensorInfo describes one tensor of the model file.
type TensorInfo struct {
	Name     string
	TypeID   uint32
	TypeName string
	Shape    []int64 // ne[0..n_dims), ne[0] the contiguous dimension
}

// Model is a loaded GGUF file, safe for concurrent use. Sessions keep the
// native model alive after Close.
type Model struct {
	mu sync.RWMutex // Close takes it exclusively; every other method shares it
	p  *C.ef_model
}

// LoadModel loads a GGUF file.
func LoadModel(path string, opts *ModelOptions) (*Model, error) {
	if opts == nil {
		opts = &ModelOptions{}
	}
	var params *C.ef_model_params
	if err := call(func() C.ef_status { return C.ef_model_params_create(&params) }); err != nil {
		return nil, err
	}
	defer C.ef_model_params_free(params)
	mmap := C.int32_t(1)
	if opts.NoMmap {
		mmap = 0
	}
	err := call(func() C.ef_status { return C.ef_model_params_set_threads(params, C.int32_t(opts.Threads)) })
	if err == nil {
		err = call(func() C.ef_status { return C.ef_model_params_set_mmap(params, mmap) })
	}
	if err == nil && opts.Backend != "" {
		name := C.CString(opts.Backend)
		defer C.free(unsafe.Pointer(name))
		err = call(func() C.ef_status { return C.ef_model_params_set_backend(params, name) })
	}
	if err == nil && opts.QuantProfile != nil {
		qp, qerr := opts.QuantProfile.handle()
		if qerr != nil {
			return nil, qerr
		}
		err = call(func() C.ef_status { return C.ef_model_params_set_quant_profile(params, qp) })
	}
	if err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var m *C.ef_model
	if err := call(func() C.ef_status { return C.ef_model_load(cpath, params, &m) }); err != nil {
		return nil, err
	}
	return &Model{p: m}, nil
}

// Close releases this reference; open sessions keep the native model alive.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		C.ef_model_free(m.p)
		m.p = nil
	}
	return nil
}

// with runs f on the live handle, or returns an EF_ERR_STATE error after Close.
func (m *Model) with(f func(p *C.ef_model) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return errClosed("model")
	}
	return f(m.p)
}

// value reads a property of the live model (zero after Close).
func (m *Model) value(f func(p *C.ef_model) int64) int64 {
	var v int64
	_ = m.with(func(p *C.ef_model) error { v = f(p); return nil })
	return v
}

func (m *Model) Arch() string {
	var s string
	_ = m.with(func(p *C.ef_model) error { s = C.GoString(C.ef_model_arch(p)); return nil })
	return s
}
func (m *Model) NParams() uint64 {
	return uint64(m.value(func(p *C.ef_model) int64 { return int64(C.ef_model_n_params(p)) }))
}
func (m *Model) SizeBytes() uint64 {
	return uint64(m.value(func(p *C.ef_model) int64 { return int64(C.ef_model_size_bytes(p)) }))
}
func (m *Model) NCtxTrain() int32 {
	return int32(m.value(func(p *C.ef_model) int64 { return int64(C.ef_model_n_ctx_train(p)) }))
}
func (m *Model) NVocab() int32 {
	return int32(m.value(func(p *C.ef_model) int64 { return int64(C.ef_model_n_vocab(p)) }))
}
func (m *Model) NEmbd() int32 {
	return int32(m.value(func(p *C.ef_model) int64 { return int64(C.ef_model_n_embd(p)) }))
}
func (m *Model) NLayer() int32 {
	return int32(m.value(func(p *C.ef_model) int64 { return int64(C.ef_model_n_layer(p)) }))
}

// twoCallString runs a two-call getter of a NUL-terminated string.
func twoCallString(f func(buf *C.char, cap C.size_t, needed *C.size_t) C.ef_status) (string, error) {
	var needed C.size_t
	var st C.ef_status
	err := call(func() C.ef_status {
		st = f(nil, 0, &needed)
		if st == C.EF_ERR_BUFFER_TOO_SMALL {
			return C.EF_OK
		}
		return st
	})
	if err != nil {
		return "", err
	}
	if needed == 0 {
		needed = 1
	}
	buf := (*C.char)(C.malloc(needed))
	defer C.free(unsafe.Pointer(buf))
	if err := call(func() C.ef_status { return f(buf, needed, &needed) }); err != nil {
		return "", err
	}
	return C.GoString(buf), nil
}

// MetaKeys lists the metadata keys in file order.
func (m *Model) MetaKeys() ([]string, error) {
	var keys []string
	err := m.with(func(p *C.ef_model) error {
		n := int64(C.ef_model_meta_count(p))
		for i := int64(0); i < n; i++ {
			k, err := twoCallString(func(b *C.char, c C.size_t, nd *C.size_t) C.ef_status {
				return C.ef_model_meta_key(p, C.int64_t(i), b, c, nd)
			})
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}

// MetaGet renders a metadata value as text; errors.Is(err, ErrNotFound) when absent.
func (m *Model) MetaGet(key string) (string, error) {
	var v string
	err := m.with(func(p *C.ef_model) error {
		ck := C.CString(key)
		defer C.free(unsafe.Pointer(ck))
		var err error
		v, err = twoCallString(func(b *C.char, c C.size_t, nd *C.size_t) C.ef_status {
			return C.ef_model_meta_get(p, ck, b, c, nd)
		})
		return err
	})
	return v, err
}

// Metadata returns every metadata entry.
func (m *Model) Metadata() (map[string]string, error) {
	keys, err := m.MetaKeys()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if out[k], err = m.MetaGet(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Tensors describes every tensor of the file.
func (m *Model) Tensors() ([]TensorInfo, error) {
	var out []TensorInfo
	err := m.with(func(p *C.ef_model) error {
		n := int64(C.ef_model_tensor_count(p))
		for i := int64(0); i < n; i++ {
			var name *C.char
			var typ C.uint32_t
			var nDims C.int32_t
			var ne [4]C.int64_t
			if err := call(func() C.ef_status {
				return C.ef_model_tensor_info(p, C.int64_t(i), &name, &typ, &nDims, &ne[0])
			}); err != nil {
				return err
			}
			shape := make([]int64, 0, 4)
			for d := 0; d < int(nDims) && d < 4; d++ {
				shape = append(shape, int64(ne[d]))
			}
			out = append(out, TensorInfo{C.GoString(name), uint32(typ), TensorTypeName(uint32(typ)), shape})
		}
		return nil
	})
	return out, err
}

// Tokenize splits text into token ids. addSpecial: BOS/EOS as the model asks;
// parseSpecial: recognise control-token texts.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	var flags C.uint32_t
	if addSpecial {
		flags |= C.EF_TOKENIZE_ADD_SPECIAL
	}
	if parseSpecial {
		flags |= C.EF_TOKENIZE_PARSE_SPECIAL
	}
	var ids []int32
	err := m.with(func(p *C.ef_model) error {
		ct := C.CBytes([]byte(text))
		defer C.free(ct)
		var needed C.size_t
		if err := call(func() C.ef_status {
			st := C.ef_tokenize(p, (*C.char)(ct), C.size_t(len(text)), flags, nil, 0, &needed)
			if st == C.EF_ERR_BUFFER_TOO_SMALL {
				return C.EF_OK
			}
			return st
		}); err != nil {
			return err
		}
		ids = make([]int32, int(needed)+1)
		if err := call(func() C.ef_status {
			return C.ef_tokenize(p, (*C.char)(ct), C.size_t(len(text)), flags,
				(*C.int32_t)(unsafe.Pointer(&ids[0])), C.size_t(len(ids)), &needed)
		}); err != nil {
			return err
		}
		ids = ids[:needed]
		return nil
	})
	return ids, err
}

// DetokenizeBytes returns the tokens' bytes (a partial sequence need not be valid UTF-8).
func (m *Model) DetokenizeBytes(tokens []int32, renderSpecial bool) ([]byte, error) {
	var flags C.uint32_t
	if renderSpecial {
		flags = C.EF_DETOKENIZE_RENDER_SPECIAL
	}
	var out []byte
	err := m.with(func(p *C.ef_model) error {
		var ids *C.int32_t
		if len(tokens) > 0 {
			ids = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
		}
		var needed C.size_t
		if err := call(func() C.ef_status {
			st := C.ef_detokenize(p, ids, C.size_t(len(tokens)), flags, nil, 0, &needed)
			if st == C.EF_ERR_BUFFER_TOO_SMALL {
				return C.EF_OK
			}
			return st
		}); err != nil {
			return err
		}
		buf := make([]byte, int(needed)+1)
		if err := call(func() C.ef_status {
			return C.ef_detokenize(p, ids, C.size_t(len(tokens)), flags,
				(*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &needed)
		}); err != nil {
			return err
		}
		out = buf[:needed]
		return nil
	})
	return out, err
}

// Detokenize returns the tokens' text (invalid UTF-8 is kept as bytes in the string).
func (m *Model) Detokenize(tokens []int32, renderSpecial bool) (string, error) {
	b, err := m.DetokenizeBytes(tokens, renderSpecial)
	return string(b), err
}

// TokenText is the vocabulary piece of a token; ok is false when out of range.
func (m *Model) TokenText(token int32) (text string, ok bool) {
	_ = m.with(func(p *C.ef_model) error {
		if t := C.ef_token_text(p, C.int32_t(token)); t != nil {
			text, ok = C.GoString(t), true
		}
		return nil
	})
	return text, ok
}

// BOS is the beginning-of-sequence token, or -1.
func (m *Model) BOS() int32 {
	return int32(m.value(func(p *C.ef_model) int64 { return int64(C.ef_token_bos(p)) }))
}

// EOS is the end-of-sequence token, or -1.
func (m *Model) EOS() int32 {
	return int32(m.value(func(p *C.ef_model) int64 { return int64(C.ef_token_eos(p)) }))
}

// IsEOG reports whether a token ends generation.
func (m *Model) IsEOG(token int32) bool {
	return m.value(func(p *C.ef_model) int64 { return int64(C.ef_token_is_eog(p, C.int32_t(token))) }) != 0
}

// The EF_SPARSITY_* flags of Model.Sparsity.
const (
	SparsityThresholds = uint32(C.EF_SPARSITY_THRESHOLDS)
	SparsityMasked     = uint32(C.EF_SPARSITY_MASKED)
	SparsityReLU       = uint32(C.EF_SPARSITY_RELU)
)

// Sparsity reports what the model offers for sparse decoding (EF_SPARSITY_*
// flags) and the level its calibration targeted.
func (m *Model) Sparsity() (uint32, float32) {
	var flags uint32
	var level C.float
	_ = m.with(func(p *C.ef_model) error { flags = uint32(C.ef_model_sparsity(p, &level)); return nil })
	return flags, float32(level)
}

// CalibrateSparsity writes a copy of the model file with activation-sparsity
// thresholds calibrated on text (default level target).
func (m *Model) CalibrateSparsity(text string, target float32, outPath string) error {
	ct := C.CBytes([]byte(text))
	defer C.free(ct)
	co := C.CString(outPath)
	defer C.free(unsafe.Pointer(co))
	return m.with(func(p *C.ef_model) error {
		return call(func() C.ef_status {
			return C.ef_sparsity_calibrate(p, (*C.char)(ct), C.size_t(len(text)), C.float(target), co)
		})
	})
}
