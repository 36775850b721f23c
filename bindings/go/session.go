package edgeformer

/*
#include <stdint.h>
#include <stdlib.h>
#include "edgeformer/edgeformer.h"

// Defined in callbacks.go (exported from Go).
extern int32_t efgoTokenCallback(void *user, int32_t token, char *text, size_t text_len);

// The Go callback gets a cgo.Handle value as its user pointer.
static ef_status efgo_generate(ef_session *s, const char *prompt, size_t prompt_len,
                               int32_t max_tokens, uintptr_t handle) {
	return ef_session_generate(s, prompt, prompt_len, max_tokens,
	                           (ef_token_fn)efgoTokenCallback, (void *)handle);
}
*/
import "C"

import (
	"runtime/cgo"
	"sync"
	"unsafe"
)

// SessionOptions are the options of NewSession; nil means defaults.
type SessionOptions struct {
	NCtx         int32  // context length; 0 = min(training context, 4096)
	Threads      int32  // 0 = all cores
	NBatch       int32  // 0 = 512
	Seed         uint64 // seed of the session's default sampler
	MemoryBudget uint64 // bytes; 0 = no cap
	KVType       string // KV-cache element type, "f16" or "f32"; "" = the default
	// MatmulMode is how quantized weights are multiplied: "weight-only" or
	// "integer-dot"; "" = the EF_MATMUL_MODE environment variable, else weight-only.
	MatmulMode string
	MLAPath    MLAPath // how Multi-head Latent Attention layers attend
	Window     *int32  // sliding window of window layers in tokens (0 = full attention); nil = the model's
	Sinks      *int32  // attention-sink tokens window layers always see; nil = the model's
	// KV are the options of the session's own KV cache; nil = the defaults.
	KV *KVOptions
	// KVCache attaches a shared cache (from Model.NewKVCache) instead.
	KVCache *KVCache
	Seq     int32 // the sequence of the cache the session starts on
	// ContextShift, when set, keeps generating past a full context, keeping
	// the first *ContextShift tokens (-1: the BOS).
	ContextShift   *int32
	Backend        string            // "cpu", "onednn", "opencl", "auto"; "" = EF_BACKEND, else auto
	BackendOptions map[string]string // e.g. {"opencl.device": "any"}
	Sparsity       float32           // fraction of FFN neurons skipped in decode; 0 = dense
}

// MLAPath selects how MLA layers attend; both paths give the same logits.
type MLAPath int32

const (
	MLAPathAuto     MLAPath = C.EF_MLA_PATH_AUTO // absorbed, legacy attn_kv_b files prefill expanded
	MLAPathAbsorbed MLAPath = C.EF_MLA_PATH_ABSORBED
	MLAPathExpanded MLAPath = C.EF_MLA_PATH_EXPANDED
)

// SamplerParams are the sampling chain's settings (see DefaultSampler).
type SamplerParams struct {
	Temperature   float32 // 0 = greedy
	TopK          int32
	TopP          float32
	MinP          float32
	RepeatPenalty float32
	RepeatLastN   int32
	Seed          uint64
}

// DefaultSampler returns the library's default settings.
func DefaultSampler() SamplerParams {
	return SamplerParams{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: 64}
}

// GreedySampler returns the defaults with temperature 0 (arg-max decoding).
func GreedySampler() SamplerParams {
	p := DefaultSampler()
	p.Temperature = 0
	return p
}

// StopReason says why the last Generate stopped.
type StopReason int32

const (
	StopNone        StopReason = C.EF_STOP_NONE
	StopEOG         StopReason = C.EF_STOP_EOG
	StopMaxTokens   StopReason = C.EF_STOP_MAX_TOKENS
	StopCallback    StopReason = C.EF_STOP_CALLBACK
	StopCancelled   StopReason = C.EF_STOP_CANCELLED
	StopContextFull StopReason = C.EF_STOP_CONTEXT_FULL
)

// Stats are the values of ef_session_stat.
type Stats struct {
	PromptTokens    int64
	PromptSeconds   float64
	GenTokens       int64
	GenSeconds      float64
	StopReason      StopReason
	MemoryUsed      uint64
	MemoryPeak      uint64
	MemoryBudget    uint64
	KVBytesPerToken uint64  // bytes the KV cache grows by per token (window layers count 0)
	PrefillChunk    int64   // tokens per forward call the memory budget allowed
	SparseSkipped   float64 // fraction of FFN neurons the sparse decode skipped
}

// TokenFunc receives each generated token and the UTF-8 text it completed
// ("" while a character is pending; token -1 delivers a final incomplete
// tail). Return true to continue, false to stop.
type TokenFunc func(token int32, text string) bool

// Session is one conversation (KV cache, scratch, sampler). Use it from one
// goroutine at a time; Cancel may be called from any goroutine.
type Session struct {
	mu     sync.RWMutex // Close takes it exclusively; calls share it
	p      *C.ef_session
	nVocab int
}

// NewSession creates a session on the model.
func (m *Model) NewSession(opts *SessionOptions) (*Session, error) {
	if opts == nil {
		opts = &SessionOptions{}
	}
	var s *Session
	err := m.with(func(mp *C.ef_model) error {
		var params *C.ef_session_params
		if err := call(func() C.ef_status { return C.ef_session_params_create(&params) }); err != nil {
			return err
		}
		defer C.ef_session_params_free(params)
		nBatch := opts.NBatch
		if nBatch == 0 {
			nBatch = 512
		}
		steps := []func() C.ef_status{
			func() C.ef_status { return C.ef_session_params_set_n_ctx(params, C.int32_t(opts.NCtx)) },
			func() C.ef_status { return C.ef_session_params_set_threads(params, C.int32_t(opts.Threads)) },
			func() C.ef_status { return C.ef_session_params_set_n_batch(params, C.int32_t(nBatch)) },
			func() C.ef_status { return C.ef_session_params_set_seed(params, C.uint64_t(opts.Seed)) },
			func() C.ef_status {
				return C.ef_session_params_set_memory_budget(params, C.uint64_t(opts.MemoryBudget))
			},
		}
		if opts.KVType != "" {
			kv := C.CString(opts.KVType)
			defer C.free(unsafe.Pointer(kv))
			steps = append(steps, func() C.ef_status { return C.ef_session_params_set_kv_type(params, kv) })
		}
		if opts.MatmulMode != "" {
			mode := C.CString(opts.MatmulMode)
			defer C.free(unsafe.Pointer(mode))
			steps = append(steps, func() C.ef_status { return C.ef_session_params_set_matmul_mode(params, mode) })
		}
		window, sinks := int32(-1), int32(-1) // -1: the model's own values
		if opts.Window != nil {
			window = *opts.Window
		}
		if opts.Sinks != nil {
			sinks = *opts.Sinks
		}
		steps = append(steps,
			func() C.ef_status { return C.ef_session_params_set_mla_path(params, C.int32_t(opts.MLAPath)) },
			func() C.ef_status { return C.ef_session_params_set_window(params, C.int32_t(window)) },
			func() C.ef_status { return C.ef_session_params_set_sinks(params, C.int32_t(sinks)) })
		extra, cleanup, err := opts.extraSteps(params)
		defer cleanup()
		if err != nil {
			return err
		}
		steps = append(steps, extra...)
		for _, step := range steps {
			if err := call(step); err != nil {
				return err
			}
		}
		var sp *C.ef_session
		if err := call(func() C.ef_status { return C.ef_session_create(mp, params, &sp) }); err != nil {
			return err
		}
		s = &Session{p: sp, nVocab: int(C.ef_model_n_vocab(mp))}
		return nil
	})
	return s, err
}

// extraSteps sets the KV, sequence, backend and sparsity options; cleanup
// frees what the steps point to, after they ran.
func (opts *SessionOptions) extraSteps(params *C.ef_session_params) ([]func() C.ef_status, func(), error) {
	var frees []func()
	cleanup := func() {
		for _, f := range frees {
			f()
		}
	}
	var steps []func() C.ef_status
	if opts.KV != nil {
		kp, err := opts.KV.native()
		if err != nil {
			return nil, cleanup, err
		}
		frees = append(frees, func() { C.ef_kv_params_free(kp) })
		steps = append(steps, func() C.ef_status { return C.ef_session_params_set_kv_params(params, kp) })
	}
	if opts.KVCache != nil {
		kv := opts.KVCache
		kv.mu.RLock()
		frees = append(frees, kv.mu.RUnlock)
		if kv.p == nil {
			return nil, cleanup, errClosed("KV cache")
		}
		steps = append(steps, func() C.ef_status { return C.ef_session_params_set_kv_cache(params, kv.p) })
	}
	steps = append(steps, func() C.ef_status { return C.ef_session_params_set_seq(params, C.int32_t(opts.Seq)) })
	if opts.ContextShift != nil {
		nKeep := *opts.ContextShift
		steps = append(steps, func() C.ef_status {
			return C.ef_session_params_set_context_shift(params, 1, C.int32_t(nKeep))
		})
	}
	if opts.Backend != "" {
		name := C.CString(opts.Backend)
		frees = append(frees, func() { C.free(unsafe.Pointer(name)) })
		steps = append(steps, func() C.ef_status { return C.ef_session_params_set_backend(params, name) })
	}
	for k, v := range opts.BackendOptions {
		ck, cv := C.CString(k), C.CString(v)
		frees = append(frees, func() { C.free(unsafe.Pointer(ck)); C.free(unsafe.Pointer(cv)) })
		steps = append(steps, func() C.ef_status { return C.ef_session_params_set_backend_option(params, ck, cv) })
	}
	if opts.Sparsity != 0 {
		level := opts.Sparsity
		steps = append(steps, func() C.ef_status { return C.ef_session_params_set_sparsity(params, C.float(level)) })
	}
	return steps, cleanup, nil
}

// Seq is the sequence Eval/Generate work on.
func (s *Session) Seq() int32 {
	var n int32
	_ = s.with(func(p *C.ef_session) error { n = int32(C.ef_session_seq(p)); return nil })
	return n
}

// SetSeq switches to sequence seq of the session's cache (a new id starts empty).
func (s *Session) SetSeq(seq int32) error {
	return s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_set_seq(p, C.int32_t(seq)) })
	})
}

// KVCache is the session's cache (borrowed: valid while the session is open).
func (s *Session) KVCache() *KVCache {
	var kv *KVCache
	_ = s.with(func(p *C.ef_session) error { kv = &KVCache{p: C.ef_session_kv_cache(p)}; return nil })
	if kv == nil {
		kv = &KVCache{}
	}
	return kv
}

// Backend is the name of the backend the session runs on.
func (s *Session) Backend() string {
	var name string
	_ = s.with(func(p *C.ef_session) error { name = C.GoString(C.ef_session_backend(p)); return nil })
	return name
}

// SeqAll selects every sequence in Save and Restore.
const SeqAll = int32(C.EF_SEQ_ALL)

// Save writes a snapshot of seq (SeqAll: every sequence) to path.
func (s *Session) Save(seq int32, path string) error {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	return s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_save(p, C.int32_t(seq), cp) })
	})
}

// SaveBytes returns a snapshot of seq (SeqAll: every sequence).
func (s *Session) SaveBytes(seq int32) ([]byte, error) {
	var out []byte
	err := s.with(func(p *C.ef_session) error {
		var need C.size_t
		st := C.ef_session_save_buffer(p, C.int32_t(seq), nil, 0, &need)
		if st != C.EF_OK && st != C.EF_ERR_BUFFER_TOO_SMALL {
			return call(func() C.ef_status { return st })
		}
		buf := C.malloc(need + 1)
		defer C.free(buf)
		if err := call(func() C.ef_status { return C.ef_session_save_buffer(p, C.int32_t(seq), buf, need, &need) }); err != nil {
			return err
		}
		out = C.GoBytes(buf, C.int(need))
		return nil
	})
	return out, err
}

// Restore reads a snapshot file; on error the session is unchanged.
func (s *Session) Restore(seq int32, path string) error {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	return s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_restore(p, C.int32_t(seq), cp) })
	})
}

// RestoreBytes restores a snapshot from memory; on error the session is unchanged.
func (s *Session) RestoreBytes(seq int32, data []byte) error {
	buf := C.CBytes(data)
	defer C.free(buf)
	return s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_restore_buffer(p, C.int32_t(seq), buf, C.size_t(len(data))) })
	})
}

// Close cancels a running call, waits for it, and frees the session.
func (s *Session) Close() error {
	s.Cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		C.ef_session_free(s.p)
		s.p = nil
	}
	return nil
}

func (s *Session) with(f func(p *C.ef_session) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.p == nil {
		return errClosed("session")
	}
	return f(s.p)
}

// Cancel asks a running Eval/Generate to stop; safe from any goroutine.
func (s *Session) Cancel() {
	// TryRLock fails only while Close holds or waits for the lock, and Close
	// cancels by itself; blocking here could deadlock a callback that cancels.
	if !s.mu.TryRLock() {
		return
	}
	defer s.mu.RUnlock()
	if s.p != nil {
		C.ef_session_cancel(s.p)
	}
}

// NCtx is the session's context length.
func (s *Session) NCtx() int32 {
	var n int32
	_ = s.with(func(p *C.ef_session) error { n = int32(C.ef_session_n_ctx(p)); return nil })
	return n
}

// NPast is the number of tokens in the context.
// MatmulMode is how the session multiplies quantized weights: "weight-only"
// or "integer-dot" ("" once closed).
func (s *Session) MatmulMode() string {
	var mode string
	_ = s.with(func(p *C.ef_session) error { mode = C.GoString(C.ef_session_matmul_mode(p)); return nil })
	return mode
}

func (s *Session) NPast() int32 {
	var n int32
	_ = s.with(func(p *C.ef_session) error { n = int32(C.ef_session_n_past(p)); return nil })
	return n
}

// ErrMsg is the message of the session's last failed call ("" if none).
func (s *Session) ErrMsg() string {
	var m string
	_ = s.with(func(p *C.ef_session) error { m = C.GoString(C.ef_session_errmsg(p)); return nil })
	return m
}

// Reset forgets the context.
func (s *Session) Reset() error {
	return s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_reset(p) })
	})
}

// Eval appends tokens to the context and runs the model over them.
func (s *Session) Eval(tokens []int32, allLogits bool) error {
	var flags C.uint32_t
	if allLogits {
		flags = C.EF_EVAL_ALL_LOGITS
	}
	return s.with(func(p *C.ef_session) error {
		var ids *C.int32_t
		if len(tokens) > 0 {
			ids = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
		}
		return call(func() C.ef_status { return C.ef_session_eval(p, ids, C.size_t(len(tokens)), flags) })
	})
}

// Logits returns a copy of row index of the last eval (-1: its last token).
func (s *Session) Logits(index int32) ([]float32, error) {
	var out []float32
	err := s.with(func(p *C.ef_session) error {
		var lp *C.float
		if err := call(func() C.ef_status { return C.ef_session_logits(p, C.int32_t(index), &lp) }); err != nil {
			return err
		}
		out = make([]float32, s.nVocab)
		copy(out, unsafe.Slice((*float32)(unsafe.Pointer(lp)), s.nVocab))
		return nil
	})
	return out, err
}

// SetSampler replaces the sampler settings (and resets its RNG and history).
func (s *Session) SetSampler(sp SamplerParams) error {
	return s.with(func(p *C.ef_session) error {
		var raw *C.ef_sampler_params
		if err := call(func() C.ef_status { return C.ef_sampler_params_create(&raw) }); err != nil {
			return err
		}
		defer C.ef_sampler_params_free(raw)
		steps := []func() C.ef_status{
			func() C.ef_status { return C.ef_sampler_params_set_temperature(raw, C.float(sp.Temperature)) },
			func() C.ef_status { return C.ef_sampler_params_set_top_k(raw, C.int32_t(sp.TopK)) },
			func() C.ef_status { return C.ef_sampler_params_set_top_p(raw, C.float(sp.TopP)) },
			func() C.ef_status { return C.ef_sampler_params_set_min_p(raw, C.float(sp.MinP)) },
			func() C.ef_status {
				return C.ef_sampler_params_set_repeat_penalty(raw, C.float(sp.RepeatPenalty), C.int32_t(sp.RepeatLastN))
			},
			func() C.ef_status { return C.ef_sampler_params_set_seed(raw, C.uint64_t(sp.Seed)) },
			func() C.ef_status { return C.ef_session_set_sampler(p, raw) },
		}
		for _, step := range steps {
			if err := call(step); err != nil {
				return err
			}
		}
		return nil
	})
}

// Sample draws one token from the last logits (it is not evaluated).
func (s *Session) Sample() (int32, error) {
	var tok C.int32_t
	err := s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_sample(p, &tok) })
	})
	return int32(tok), err
}

// generation is what the exported callback reaches through a cgo.Handle.
type generation struct {
	fn     func(token int32, text []byte) bool
	text   []byte
	panicV interface{}
	failed bool
}

// GenerateBytes runs ef_session_generate, passing each token's raw bytes to
// fn (may be nil); returns all generated bytes. A panic in fn stops the
// generation and is re-raised after the C call returns.
func (s *Session) GenerateBytes(prompt string, maxTokens int32, fn func(token int32, text []byte) bool) ([]byte, error) {
	g := &generation{fn: fn}
	h := cgo.NewHandle(g)
	defer h.Delete()
	err := s.with(func(p *C.ef_session) error {
		cp := C.CBytes([]byte(prompt))
		defer C.free(cp)
		return call(func() C.ef_status {
			return C.efgo_generate(p, (*C.char)(cp), C.size_t(len(prompt)), C.int32_t(maxTokens), C.uintptr_t(h))
		})
	})
	if g.failed {
		panic(g.panicV)
	}
	return g.text, err
}

// Generate streams text to fn (may be nil) and returns the whole generated
// text. errors.Is(err, ErrCancelled) after Cancel.
func (s *Session) Generate(prompt string, maxTokens int32, fn TokenFunc) (string, error) {
	var each func(int32, []byte) bool
	if fn != nil {
		each = func(tok int32, b []byte) bool { return fn(tok, string(b)) }
	}
	b, err := s.GenerateBytes(prompt, maxTokens, each)
	return string(b), err
}

// Stat reads one ef_session_stat key.
func (s *Session) Stat(key int32) (float64, error) {
	var v C.double
	err := s.with(func(p *C.ef_session) error {
		return call(func() C.ef_status { return C.ef_session_stat(p, C.int32_t(key), &v) })
	})
	return float64(v), err
}

// Stats reads every statistic.
func (s *Session) Stats() (Stats, error) {
	var v [11]float64
	for i := range v {
		var err error
		if v[i], err = s.Stat(int32(i + 1)); err != nil { // keys EF_STAT_* are 1..11
			return Stats{}, err
		}
	}
	return Stats{int64(v[0]), v[1], int64(v[2]), v[3], StopReason(v[4]), uint64(v[5]), uint64(v[6]), uint64(v[7]),
		uint64(v[8]), int64(v[9]), v[10]}, nil
}

// The EF_STAT_* keys of Stat.
const (
	StatPromptTokens    = int32(C.EF_STAT_PROMPT_TOKENS)
	StatPromptSeconds   = int32(C.EF_STAT_PROMPT_SECONDS)
	StatGenTokens       = int32(C.EF_STAT_GEN_TOKENS)
	StatGenSeconds      = int32(C.EF_STAT_GEN_SECONDS)
	StatStopReason      = int32(C.EF_STAT_STOP_REASON)
	StatMemoryUsed      = int32(C.EF_STAT_MEMORY_USED)
	StatMemoryPeak      = int32(C.EF_STAT_MEMORY_PEAK)
	StatMemoryBudget    = int32(C.EF_STAT_MEMORY_BUDGET)
	StatKVBytesPerToken = int32(C.EF_STAT_KV_BYTES_PER_TOKEN)
	StatPrefillChunk    = int32(C.EF_STAT_PREFILL_CHUNK)
	StatSparseSkipped   = int32(C.EF_STAT_SPARSE_SKIPPED)
)
