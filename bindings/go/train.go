package edgeformer

/*
#include <stdlib.h>
#include "edgeformer/edgeformer.h"
*/
import "C"

import (
	"fmt"
	"sort"
	"sync"
	"unsafe"
)

// TrainParams are training settings by key, as documented at
// ef_train_params_set_int/_float/_str in edgeformer.h ("dim", "lr",
// "text", "vocab", ...). The value's Go type picks the setter: int, int32,
// int64 and bool go to set_int, float32 and float64 to set_float, string
// to set_str. Keys left out keep the library's defaults.
type TrainParams map[string]any

// Trainer is a model being trained: parameters, AdamW state, data and
// position. Its methods may be called from any goroutine, one at a time
// (they serialize); Close it when done (it implements io.Closer).
type Trainer struct {
	mu sync.Mutex
	p  *C.ef_trainer
}

// setTrainParam applies one setting with the setter of the value's type.
func setTrainParam(params *C.ef_train_params, key string, value any) error {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var n int64
	switch v := value.(type) {
	case bool:
		if v {
			n = 1
		}
	case int:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case float32:
		return call(func() C.ef_status { return C.ef_train_params_set_float(params, ck, C.double(v)) })
	case float64:
		return call(func() C.ef_status { return C.ef_train_params_set_float(params, ck, C.double(v)) })
	case string:
		cv := C.CString(v)
		defer C.free(unsafe.Pointer(cv))
		return call(func() C.ef_status { return C.ef_train_params_set_str(params, ck, cv) })
	default:
		return &Error{Status: StatusInvalidArg,
			Message: fmt.Sprintf("training setting %q: expected an integer, float, bool or string, got %T", key, value)}
	}
	return call(func() C.ef_status { return C.ef_train_params_set_int(params, ck, C.int64_t(n)) })
}

// NewTrainer loads and tokenizes the data and initialises the model
// described by params (nil: all defaults, which need "data" or "text").
func NewTrainer(params TrainParams) (*Trainer, error) {
	var native *C.ef_train_params
	if err := call(func() C.ef_status { return C.ef_train_params_create(&native) }); err != nil {
		return nil, err
	}
	defer C.ef_train_params_free(native)
	// a fixed order, so that the first bad key reported is always the same
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := setTrainParam(native, k, params[k]); err != nil {
			return nil, err
		}
	}
	var t *C.ef_trainer
	if err := call(func() C.ef_status { return C.ef_trainer_create(native, &t) }); err != nil {
		return nil, err
	}
	return &Trainer{p: t}, nil
}

// Close frees the trainer; later calls return an ErrState error.
func (t *Trainer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p != nil {
		C.ef_trainer_free(t.p)
		t.p = nil
	}
	return nil
}

// with runs f on the live handle, or returns an EF_ERR_STATE error after Close.
func (t *Trainer) with(f func(p *C.ef_trainer) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p == nil {
		return errClosed("trainer")
	}
	return f(t.p)
}

// Step runs one optimizer step and returns its mean training loss.
func (t *Trainer) Step() (float32, error) {
	var loss C.float
	err := t.with(func(p *C.ef_trainer) error {
		return call(func() C.ef_status { return C.ef_trainer_step(p, &loss) })
	})
	return float32(loss), err
}

// Evaluate is the mean loss over the fixed validation windows
// (perplexity = exp of it).
func (t *Trainer) Evaluate() (float32, error) {
	var loss C.float
	err := t.with(func(p *C.ef_trainer) error {
		return call(func() C.ef_status { return C.ef_trainer_evaluate(p, &loss) })
	})
	return float32(loss), err
}

// StepCount is the number of steps taken so far (0 after Close).
func (t *Trainer) StepCount() int64 {
	var n int64
	_ = t.with(func(p *C.ef_trainer) error { n = int64(C.ef_trainer_step_count(p)); return nil })
	return n
}

// LR is the learning rate the next step will use (0 after Close).
func (t *Trainer) LR() float32 {
	var lr float32
	_ = t.with(func(p *C.ef_trainer) error { lr = float32(C.ef_trainer_lr(p)); return nil })
	return lr
}

// NParams is the number of trainable parameters (0 after Close).
func (t *Trainer) NParams() uint64 {
	var n uint64
	_ = t.with(func(p *C.ef_trainer) error { n = uint64(C.ef_trainer_n_params(p)); return nil })
	return n
}

// TokensPerStep is batch × seq × accum (0 after Close).
func (t *Trainer) TokensPerStep() int64 {
	var n int64
	_ = t.with(func(p *C.ef_trainer) error { n = int64(C.ef_trainer_tokens_per_step(p)); return nil })
	return n
}

// pathCall runs a path-taking trainer call on the live handle.
func (t *Trainer) pathCall(path string, f func(p *C.ef_trainer, cpath *C.char) C.ef_status) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return t.with(func(p *C.ef_trainer) error {
		return call(func() C.ef_status { return f(p, cpath) })
	})
}

// Save writes a checkpoint (parameters, AdamW moments, data position).
func (t *Trainer) Save(path string) error {
	return t.pathCall(path, func(p *C.ef_trainer, c *C.char) C.ef_status { return C.ef_trainer_save(p, c) })
}

// Load restores a checkpoint of a trainer of the same shape; on error the
// trainer is unchanged.
func (t *Trainer) Load(path string) error {
	return t.pathCall(path, func(p *C.ef_trainer, c *C.char) C.ef_status { return C.ef_trainer_load(p, c) })
}

// Export writes the model as an F32 GGUF that LoadModel reads.
func (t *Trainer) Export(path string) error {
	return t.pathCall(path, func(p *C.ef_trainer, c *C.char) C.ef_status { return C.ef_trainer_export(p, c) })
}

// TrainTokenizer trains a GPT-2-style byte-level BPE tokenizer of exactly
// vocabSize tokens on data (the trainer's "data" spellings: a text file, a
// folder, brown:DIR, wikitext:DIR) and writes it to outPath as a
// vocabulary-only GGUF, for the "vocab" setting "gguf:" + outPath.
// Deterministic: the same data and size give the same file.
func TrainTokenizer(data string, vocabSize int, outPath string) error {
	cd, co := C.CString(data), C.CString(outPath)
	defer C.free(unsafe.Pointer(cd))
	defer C.free(unsafe.Pointer(co))
	return call(func() C.ef_status { return C.ef_tokenizer_train(cd, C.int32_t(vocabSize), co) })
}
