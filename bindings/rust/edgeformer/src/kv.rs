//! KV caches: options, shared caches, sequence operations and tier
//! statistics. The C cache has its own lock, so `KvCache` is Send + Sync;
//! sessions attached to one cache take turns in their forward passes.
use std::ffi::c_char;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use edgeformer_sys as sys;

use crate::error::{check, cstr, Error, Result};
use crate::model::{c_string, Model};

/// A KV tier, hottest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvTier {
    Hot,
    Ram,
    Zstd,
    Disk,
}

impl KvTier {
    pub(crate) fn code(self) -> i32 {
        match self {
            KvTier::Hot => sys::EF_KV_TIER_HOT,
            KvTier::Ram => sys::EF_KV_TIER_RAM,
            KvTier::Zstd => sys::EF_KV_TIER_ZSTD,
            KvTier::Disk => sys::EF_KV_TIER_DISK,
        }
    }
}

/// Options of a KV cache (ef_kv_params). Budgets in bytes, 0 = unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvOptions {
    pub page_size: i32,
    pub k_type: String,
    pub v_type: String,
    /// Positions per sequence; 0 = the session's n_ctx.
    pub n_ctx: i32,
    pub n_seq_max: i32,
    /// (tier, bytes) for Hot, Ram and Zstd.
    pub tier_budgets: Vec<(KvTier, u64)>,
    /// Folder of the disk tier; None = no disk tier.
    pub spill_dir: Option<String>,
    /// zstd level of the compressed tier; 0 = no compressed tier.
    pub compression: i32,
}

impl Default for KvOptions {
    fn default() -> Self {
        KvOptions {
            page_size: 256,
            k_type: "f16".into(),
            v_type: "f16".into(),
            n_ctx: 0,
            n_seq_max: 1,
            tier_budgets: Vec::new(),
            spill_dir: None,
            compression: 1,
        }
    }
}

/// An ef_kv_params built from KvOptions; freed on drop.
pub(crate) struct NativeKvParams(pub *mut sys::ef_kv_params);

impl Drop for NativeKvParams {
    fn drop(&mut self) {
        unsafe { sys::ef_kv_params_free(self.0) }
    }
}

impl KvOptions {
    pub(crate) fn native(&self) -> Result<NativeKvParams> {
        unsafe {
            let mut p = ptr::null_mut();
            check(sys::ef_kv_params_create(&mut p))?;
            let out = NativeKvParams(p);
            check(sys::ef_kv_params_set_page_size(p, self.page_size))?;
            let k = c_string(&self.k_type, "K type")?;
            let v = c_string(&self.v_type, "V type")?;
            check(sys::ef_kv_params_set_types(p, k.as_ptr(), v.as_ptr()))?;
            check(sys::ef_kv_params_set_n_ctx(p, self.n_ctx))?;
            check(sys::ef_kv_params_set_n_seq_max(p, self.n_seq_max))?;
            for (tier, bytes) in &self.tier_budgets {
                check(sys::ef_kv_params_set_tier_budget(p, tier.code(), *bytes))?;
            }
            if let Some(dir) = &self.spill_dir {
                let dir = c_string(dir, "spill directory")?;
                check(sys::ef_kv_params_set_spill_dir(p, dir.as_ptr()))?;
            }
            check(sys::ef_kv_params_set_compression(p, self.compression))?;
            Ok(out)
        }
    }
}

/// ef_kv_cache_stat() of one tier.
#[derive(Debug, Clone, PartialEq)]
pub struct TierStats {
    pub bytes: u64,
    pub pages: u64,
    pub raw_bytes: u64,
    pub offloads: u64,
    pub restores: u64,
    pub offload_seconds: f64,
    pub restore_seconds: f64,
}

struct RawKv(NonNull<sys::ef_kv_cache>);
unsafe impl Send for RawKv {}
unsafe impl Sync for RawKv {}
impl Drop for RawKv {
    fn drop(&mut self) {
        unsafe { sys::ef_kv_cache_free(self.0.as_ptr()) }
    }
}

/// A KV cache created explicitly; clones share it. Attach it to sessions
/// with `SessionOptions::kv_cache`.
#[derive(Clone)]
pub struct KvCache {
    raw: Arc<RawKv>,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KvCache({:p})", self.raw.0.as_ptr())
    }
}

impl PartialEq for KvCache {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.raw, &other.raw)
    }
}

impl KvCache {
    pub fn new(model: &Model, opts: &KvOptions) -> Result<KvCache> {
        let params = opts.native()?;
        let mut out = ptr::null_mut();
        check(unsafe { sys::ef_kv_cache_create(model.as_ptr(), params.0, &mut out) })?;
        let raw = NonNull::new(out)
            .ok_or_else(|| Error::new(sys::EF_ERR_INTERNAL, "ef_kv_cache_create returned no cache"))?;
        Ok(KvCache { raw: Arc::new(RawKv(raw)) })
    }

    pub fn as_ptr(&self) -> *mut sys::ef_kv_cache {
        self.raw.0.as_ptr()
    }

    /// Sequence operations and statistics on this cache.
    pub fn ops(&self) -> KvOps<'_> {
        KvOps { kv: self.as_ptr(), _life: std::marker::PhantomData }
    }
}

/// Sequence operations and statistics on a cache, owned (`KvCache::ops`) or
/// a session's (`Session::kv`).
pub struct KvOps<'a> {
    kv: *mut sys::ef_kv_cache,
    _life: std::marker::PhantomData<&'a ()>,
}

impl<'a> KvOps<'a> {
    pub(crate) fn borrowed(kv: *mut sys::ef_kv_cache) -> KvOps<'a> {
        KvOps { kv, _life: std::marker::PhantomData }
    }

    fn check(&self, st: i32) -> Result<()> {
        if st == sys::EF_OK {
            return Ok(());
        }
        let msg = unsafe { cstr(sys::ef_kv_cache_errmsg(self.kv)) };
        if msg.is_empty() {
            check(st)
        } else {
            Err(Error::new(st, msg))
        }
    }

    /// Drops every token of seq (-1: of all sequences).
    pub fn clear(&self, seq: i32) -> Result<()> {
        self.check(unsafe { sys::ef_kv_seq_clear(self.kv, seq) })
    }
    /// Removes positions [p0, p1) (p1 = -1: to the end); later tokens move down.
    pub fn remove(&self, seq: i32, p0: i32, p1: i32) -> Result<()> {
        self.check(unsafe { sys::ef_kv_seq_remove(self.kv, seq, p0, p1) })
    }
    /// Makes dst a copy-on-write fork of src.
    pub fn copy(&self, src: i32, dst: i32) -> Result<()> {
        self.check(unsafe { sys::ef_kv_seq_copy(self.kv, src, dst) })
    }
    /// Drops every sequence but seq.
    pub fn keep(&self, seq: i32) -> Result<()> {
        self.check(unsafe { sys::ef_kv_seq_keep(self.kv, seq) })
    }
    /// Context shift: keeps n_keep tokens, drops n_discard, moves the rest down.
    pub fn shift(&self, seq: i32, n_keep: i32, n_discard: i32) -> Result<()> {
        self.check(unsafe { sys::ef_kv_seq_shift(self.kv, seq, n_keep, n_discard) })
    }
    /// (lowest, highest) position of seq; (-1, -1) when empty.
    pub fn pos_range(&self, seq: i32) -> Result<(i32, i32)> {
        let (mut lo, mut hi) = (-1, -1);
        self.check(unsafe { sys::ef_kv_seq_pos_range(self.kv, seq, &mut lo, &mut hi) })?;
        Ok((lo, hi))
    }
    pub fn stat(&self, key: i32, tier: KvTier) -> Result<f64> {
        let mut v = 0f64;
        self.check(unsafe { sys::ef_kv_cache_stat(self.kv, key, tier.code(), &mut v) })?;
        Ok(v)
    }
    pub fn tier_stats(&self, tier: KvTier) -> Result<TierStats> {
        Ok(TierStats {
            bytes: self.stat(sys::EF_KV_STAT_BYTES, tier)? as u64,
            pages: self.stat(sys::EF_KV_STAT_PAGES, tier)? as u64,
            raw_bytes: self.stat(sys::EF_KV_STAT_RAW_BYTES, tier)? as u64,
            offloads: self.stat(sys::EF_KV_STAT_OFFLOADS, tier)? as u64,
            restores: self.stat(sys::EF_KV_STAT_RESTORES, tier)? as u64,
            offload_seconds: self.stat(sys::EF_KV_STAT_OFFLOAD_SECONDS, tier)?,
            restore_seconds: self.stat(sys::EF_KV_STAT_RESTORE_SECONDS, tier)?,
        })
    }
    /// Fraction of page reads served by the hot tier.
    pub fn hit_rate(&self) -> Result<f64> {
        self.stat(sys::EF_KV_STAT_HIT_RATE, KvTier::Hot)
    }
    /// (K type, V type), e.g. ("q8_0", "q8_0").
    pub fn types(&self) -> (String, String) {
        let name = |v: i32| unsafe { cstr(sys::ef_kv_cache_type(self.kv, v) as *const c_char) };
        (name(0), name(1))
    }
}
