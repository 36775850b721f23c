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

// KVTier is a KV-cache tier, hottest first.
type KVTier int32

const (
	KVTierHot  KVTier = C.EF_KV_TIER_HOT
	KVTierRAM  KVTier = C.EF_KV_TIER_RAM
	KVTierZstd KVTier = C.EF_KV_TIER_ZSTD
	KVTierDisk KVTier = C.EF_KV_TIER_DISK
)

// The EF_KV_STAT_* keys of KVCache.Stat.
const (
	KVStatBytes          = int32(C.EF_KV_STAT_BYTES)
	KVStatPages          = int32(C.EF_KV_STAT_PAGES)
	KVStatRawBytes       = int32(C.EF_KV_STAT_RAW_BYTES)
	KVStatOffloads       = int32(C.EF_KV_STAT_OFFLOADS)
	KVStatRestores       = int32(C.EF_KV_STAT_RESTORES)
	KVStatOffloadSeconds = int32(C.EF_KV_STAT_OFFLOAD_SECONDS)
	KVStatRestoreSeconds = int32(C.EF_KV_STAT_RESTORE_SECONDS)
	KVStatHitRate        = int32(C.EF_KV_STAT_HIT_RATE)
	KVStatPageSize       = int32(C.EF_KV_STAT_PAGE_SIZE)
	KVStatPageBytes      = int32(C.EF_KV_STAT_PAGE_BYTES)
	KVStatTokens         = int32(C.EF_KV_STAT_TOKENS)
	KVStatSharedPages    = int32(C.EF_KV_STAT_SHARED_PAGES)
)

// KVOptions are the options of a KV cache; zero fields keep the library's
// defaults (256-token pages, f16 K and V, one sequence, no tier budgets).
type KVOptions struct {
	PageSize    int32
	KType       string // "f32", "f16", "q8_0" or "q4_0"
	VType       string
	NCtx        int32             // positions per sequence; 0 = the session's
	NSeqMax     int32             // most sequences; 0 = 1
	TierBudgets map[KVTier]uint64 // bytes per tier (Hot, RAM, Zstd); 0 = unlimited
	SpillDir    string            // folder of the disk tier; "" = none
	Compression *int32            // zstd level; 0 turns the tier off; nil = the default
}

// native builds an ef_kv_params; the caller frees it.
func (o *KVOptions) native() (*C.ef_kv_params, error) {
	var p *C.ef_kv_params
	if err := call(func() C.ef_status { return C.ef_kv_params_create(&p) }); err != nil {
		return nil, err
	}
	fail := func(err error) (*C.ef_kv_params, error) {
		C.ef_kv_params_free(p)
		return nil, err
	}
	if o.PageSize != 0 {
		if err := call(func() C.ef_status { return C.ef_kv_params_set_page_size(p, C.int32_t(o.PageSize)) }); err != nil {
			return fail(err)
		}
	}
	if o.KType != "" || o.VType != "" {
		var k, v *C.char
		if o.KType != "" {
			k = C.CString(o.KType)
			defer C.free(unsafe.Pointer(k))
		}
		if o.VType != "" {
			v = C.CString(o.VType)
			defer C.free(unsafe.Pointer(v))
		}
		if err := call(func() C.ef_status { return C.ef_kv_params_set_types(p, k, v) }); err != nil {
			return fail(err)
		}
	}
	steps := []func() C.ef_status{
		func() C.ef_status { return C.ef_kv_params_set_n_ctx(p, C.int32_t(o.NCtx)) },
	}
	if o.NSeqMax != 0 {
		steps = append(steps, func() C.ef_status { return C.ef_kv_params_set_n_seq_max(p, C.int32_t(o.NSeqMax)) })
	}
	for tier, bytes := range o.TierBudgets {
		tier, bytes := tier, bytes
		steps = append(steps, func() C.ef_status {
			return C.ef_kv_params_set_tier_budget(p, C.int32_t(tier), C.uint64_t(bytes))
		})
	}
	if o.SpillDir != "" {
		dir := C.CString(o.SpillDir)
		defer C.free(unsafe.Pointer(dir))
		steps = append(steps, func() C.ef_status { return C.ef_kv_params_set_spill_dir(p, dir) })
	}
	if o.Compression != nil {
		steps = append(steps, func() C.ef_status { return C.ef_kv_params_set_compression(p, C.int32_t(*o.Compression)) })
	}
	for _, step := range steps {
		if err := call(step); err != nil {
			return fail(err)
		}
	}
	return p, nil
}

// KVCache is a KV cache: made by NewKVCache (Close frees it) or borrowed
// from a session (Session.KVCache; it lives as long as the session). The
// cache has its own lock: methods are safe from any goroutine.
type KVCache struct {
	mu    sync.RWMutex
	p     *C.ef_kv_cache
	owned bool
}

// NewKVCache creates a cache to share between sessions (SessionOptions.KVCache).
func (m *Model) NewKVCache(opts *KVOptions) (*KVCache, error) {
	if opts == nil {
		opts = &KVOptions{}
	}
	var kv *KVCache
	err := m.with(func(mp *C.ef_model) error {
		params, err := opts.native()
		if err != nil {
			return err
		}
		defer C.ef_kv_params_free(params)
		var p *C.ef_kv_cache
		if err := call(func() C.ef_status { return C.ef_kv_cache_create(mp, params, &p) }); err != nil {
			return err
		}
		kv = &KVCache{p: p, owned: true}
		return nil
	})
	return kv, err
}

// Close releases an owned cache (sessions attached to it keep theirs).
func (kv *KVCache) Close() error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.p != nil && kv.owned {
		C.ef_kv_cache_free(kv.p)
	}
	kv.p = nil
	return nil
}

func (kv *KVCache) with(f func(p *C.ef_kv_cache) C.ef_status) error {
	kv.mu.RLock()
	defer kv.mu.RUnlock()
	if kv.p == nil {
		return errClosed("KV cache")
	}
	if st := f(kv.p); st != C.EF_OK {
		return &Error{Status: Status(st), Message: C.GoString(C.ef_kv_cache_errmsg(kv.p))}
	}
	return nil
}

// Clear drops every token of seq (-1: of all sequences).
func (kv *KVCache) Clear(seq int32) error {
	return kv.with(func(p *C.ef_kv_cache) C.ef_status { return C.ef_kv_seq_clear(p, C.int32_t(seq)) })
}

// Remove drops positions [p0, p1) of seq (p1 = -1: to the end); later tokens move down.
func (kv *KVCache) Remove(seq, p0, p1 int32) error {
	return kv.with(func(p *C.ef_kv_cache) C.ef_status {
		return C.ef_kv_seq_remove(p, C.int32_t(seq), C.int32_t(p0), C.int32_t(p1))
	})
}

// Copy makes dst a copy-on-write fork of src.
func (kv *KVCache) Copy(src, dst int32) error {
	return kv.with(func(p *C.ef_kv_cache) C.ef_status { return C.ef_kv_seq_copy(p, C.int32_t(src), C.int32_t(dst)) })
}

// Keep drops every sequence but seq.
func (kv *KVCache) Keep(seq int32) error {
	return kv.with(func(p *C.ef_kv_cache) C.ef_status { return C.ef_kv_seq_keep(p, C.int32_t(seq)) })
}

// Shift keeps n_keep tokens of seq, drops the next nDiscard and moves the rest down.
func (kv *KVCache) Shift(seq, nKeep, nDiscard int32) error {
	return kv.with(func(p *C.ef_kv_cache) C.ef_status {
		return C.ef_kv_seq_shift(p, C.int32_t(seq), C.int32_t(nKeep), C.int32_t(nDiscard))
	})
}

// PosRange is the lowest and highest position of seq (-1, -1 when empty).
func (kv *KVCache) PosRange(seq int32) (int32, int32, error) {
	var lo, hi C.int32_t
	err := kv.with(func(p *C.ef_kv_cache) C.ef_status { return C.ef_kv_seq_pos_range(p, C.int32_t(seq), &lo, &hi) })
	return int32(lo), int32(hi), err
}

// Stat reads one EF_KV_STAT_* value of a tier.
func (kv *KVCache) Stat(key int32, tier KVTier) (float64, error) {
	var v C.double
	err := kv.with(func(p *C.ef_kv_cache) C.ef_status {
		return C.ef_kv_cache_stat(p, C.int32_t(key), C.int32_t(tier), &v)
	})
	return float64(v), err
}

// Types is the cache's K and V element types ("q8_0", "f16").
func (kv *KVCache) Types() (string, string) {
	kv.mu.RLock()
	defer kv.mu.RUnlock()
	if kv.p == nil {
		return "", ""
	}
	return C.GoString(C.ef_kv_cache_type(kv.p, 0)), C.GoString(C.ef_kv_cache_type(kv.p, 1))
}
