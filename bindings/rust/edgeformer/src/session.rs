//! Session: one conversation (KV cache, scratch, sampler). Send but not Sync:
//! one thread at a time, as the C API requires. CancelHandle (Send + Sync)
//! stops a running call from another thread.
use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use edgeformer_sys as sys;

use crate::error::{check, cstr, Error, Result};
use crate::kv::{KvCache, KvOps, KvOptions};
use crate::model::{c_string, Guard, Model};

/// Options of Model::session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOptions {
    /// Context length in tokens; 0 = min(training context, 4096).
    pub n_ctx: i32,
    /// Compute threads; 0 = all cores.
    pub threads: i32,
    pub n_batch: i32,
    pub seed: u64,
    /// Cap on the session's own allocations in bytes; 0 = none.
    pub memory_budget: u64,
    /// KV-cache element type, "f16" or "f32"; None = the library's default.
    pub kv_type: Option<String>,
    /// How quantized weights are multiplied, "weight-only" or "integer-dot";
    /// None = the EF_MATMUL_MODE environment variable, else weight-only.
    pub matmul_mode: Option<String>,
    /// How Multi-head Latent Attention layers attend.
    pub mla_path: MlaPath,
    /// Sliding window of the window layers in tokens (0 = full attention);
    /// None = the model's.
    pub window: Option<i32>,
    /// Attention-sink tokens window layers always see; None = the model's.
    pub sinks: Option<i32>,
    /// Options of the session's own KV cache (pages, types, tiers); None = defaults.
    pub kv: Option<KvOptions>,
    /// A shared KV cache to attach instead of making one.
    pub kv_cache: Option<KvCache>,
    /// The sequence of the cache the session starts on.
    pub seq: i32,
    /// Some(n_keep): keep generating past a full context, keeping the first
    /// n_keep tokens (-1: the BOS); None: stop when full.
    pub context_shift: Option<i32>,
    /// "cpu", "onednn", "opencl" or "auto"; None = EF_BACKEND, else auto.
    pub backend: Option<String>,
    /// Backend-specific options, e.g. ("opencl.device", "any").
    pub backend_options: Vec<(String, String)>,
    /// Fraction of FFN neurons skipped in decode; 0 = dense.
    pub sparsity: f32,
}

/// ef_session_params_set_mla_path() values; both paths give the same logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MlaPath {
    /// Absorbed, except legacy attn_kv_b files prefill expanded when it fits.
    #[default]
    Auto,
    Absorbed,
    Expanded,
}

impl MlaPath {
    fn code(self) -> i32 {
        match self {
            MlaPath::Auto => sys::EF_MLA_PATH_AUTO,
            MlaPath::Absorbed => sys::EF_MLA_PATH_ABSORBED,
            MlaPath::Expanded => sys::EF_MLA_PATH_EXPANDED,
        }
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            n_ctx: 0,
            threads: 0,
            n_batch: 512,
            seed: 0,
            memory_budget: 0,
            kv_type: None,
            matmul_mode: None,
            mla_path: MlaPath::Auto,
            window: None,
            sinks: None,
            kv: None,
            kv_cache: None,
            seq: 0,
            context_shift: None,
            backend: None,
            backend_options: Vec::new(),
            sparsity: 0.0,
        }
    }
}

/// Sampling settings; the defaults are the library's. temperature 0 = greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub repeat_last_n: i32,
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerParams {
    pub fn greedy() -> Self {
        SamplerParams { temperature: 0.0, ..Default::default() }
    }
}

/// Why the last generate stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    None,
    Eog,
    MaxTokens,
    Callback,
    Cancelled,
    ContextFull,
    Other(i32),
}

impl StopReason {
    fn from_code(code: i32) -> Self {
        match code {
            sys::EF_STOP_NONE => StopReason::None,
            sys::EF_STOP_EOG => StopReason::Eog,
            sys::EF_STOP_MAX_TOKENS => StopReason::MaxTokens,
            sys::EF_STOP_CALLBACK => StopReason::Callback,
            sys::EF_STOP_CANCELLED => StopReason::Cancelled,
            sys::EF_STOP_CONTEXT_FULL => StopReason::ContextFull,
            other => StopReason::Other(other),
        }
    }
}

/// ef_session_stat() values.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub prompt_tokens: u64,
    pub prompt_seconds: f64,
    pub gen_tokens: u64,
    pub gen_seconds: f64,
    pub stop_reason: StopReason,
    pub memory_used: u64,
    pub memory_peak: u64,
    pub memory_budget: u64,
    /// Bytes the KV cache grows by per token (window layers count 0).
    pub kv_bytes_per_token: u64,
    /// Tokens per forward call the memory budget allowed.
    pub prefill_chunk: u64,
    /// Fraction of FFN neurons the sparse decode skipped (0 when dense).
    pub sparse_skipped: f64,
}

/// Owns the native session; shared with CancelHandles, freed by the last owner.
struct Raw(NonNull<sys::ef_session>);
// Only ef_session_cancel (thread-safe) is reached through a shared Raw from
// other threads; everything else goes through the !Sync Session.
unsafe impl Send for Raw {}
unsafe impl Sync for Raw {}
impl Drop for Raw {
    fn drop(&mut self) {
        unsafe { sys::ef_session_free(self.0.as_ptr()) }
    }
}

pub struct Session {
    raw: Arc<Raw>,
    n_vocab: usize,
    _not_sync: PhantomData<Cell<()>>,
}

/// Stops a running eval/generate of its session from any thread.
#[derive(Clone)]
pub struct CancelHandle {
    raw: Arc<Raw>,
}

impl CancelHandle {
    pub fn cancel(&self) {
        unsafe { sys::ef_session_cancel(self.raw.0.as_ptr()) }
    }
}

impl Session {
    pub(crate) fn new(model: &Model, opts: &SessionOptions) -> Result<Session> {
        unsafe {
            let mut params = ptr::null_mut();
            check(sys::ef_session_params_create(&mut params))?;
            let _g = Guard(params, sys::ef_session_params_free);
            check(sys::ef_session_params_set_n_ctx(params, opts.n_ctx))?;
            check(sys::ef_session_params_set_threads(params, opts.threads))?;
            check(sys::ef_session_params_set_n_batch(params, opts.n_batch))?;
            check(sys::ef_session_params_set_seed(params, opts.seed))?;
            check(sys::ef_session_params_set_memory_budget(params, opts.memory_budget))?;
            if let Some(kv) = &opts.kv_type {
                let kv = c_string(kv, "KV type")?;
                check(sys::ef_session_params_set_kv_type(params, kv.as_ptr()))?;
            }
            if let Some(mode) = &opts.matmul_mode {
                let mode = c_string(mode, "matmul mode")?;
                check(sys::ef_session_params_set_matmul_mode(params, mode.as_ptr()))?;
            }
            check(sys::ef_session_params_set_mla_path(params, opts.mla_path.code()))?;
            check(sys::ef_session_params_set_window(params, opts.window.unwrap_or(-1)))?;
            check(sys::ef_session_params_set_sinks(params, opts.sinks.unwrap_or(-1)))?;
            Self::set_extras(params, opts)?;
            let mut out = ptr::null_mut();
            check(sys::ef_session_create(model.as_ptr(), params, &mut out))?;
            let raw = NonNull::new(out)
                .ok_or_else(|| Error::new(sys::EF_ERR_INTERNAL, "ef_session_create returned no session"))?;
            Ok(Session { raw: Arc::new(Raw(raw)), n_vocab: model.n_vocab().max(0) as usize, _not_sync: PhantomData })
        }
    }

    unsafe fn set_extras(params: *mut sys::ef_session_params, opts: &SessionOptions) -> Result<()> {
        if let Some(kv) = &opts.kv {
            let native = kv.native()?;
            check(sys::ef_session_params_set_kv_params(params, native.0))?;
        }
        if let Some(cache) = &opts.kv_cache {
            check(sys::ef_session_params_set_kv_cache(params, cache.as_ptr()))?;
        }
        check(sys::ef_session_params_set_seq(params, opts.seq))?;
        if let Some(n_keep) = opts.context_shift {
            check(sys::ef_session_params_set_context_shift(params, 1, n_keep))?;
        }
        if let Some(name) = &opts.backend {
            let name = c_string(name, "backend name")?;
            check(sys::ef_session_params_set_backend(params, name.as_ptr()))?;
        }
        for (k, v) in &opts.backend_options {
            let (k, v) = (c_string(k, "backend option")?, c_string(v, "backend option value")?);
            check(sys::ef_session_params_set_backend_option(params, k.as_ptr(), v.as_ptr()))?;
        }
        if opts.sparsity != 0.0 {
            check(sys::ef_session_params_set_sparsity(params, opts.sparsity))?;
        }
        Ok(())
    }

    /// The sequence eval/generate work on.
    pub fn seq(&self) -> i32 {
        unsafe { sys::ef_session_seq(self.as_ptr()) }
    }

    /// Switches to sequence seq of the session's cache (a new id starts empty).
    pub fn set_seq(&mut self, seq: i32) -> Result<()> {
        check(unsafe { sys::ef_session_set_seq(self.as_ptr(), seq) })
    }

    /// Sequence operations and statistics of the session's KV cache.
    pub fn kv(&mut self) -> KvOps<'_> {
        KvOps::borrowed(unsafe { sys::ef_session_kv_cache(self.as_ptr()) })
    }

    /// Name of the backend the session runs on.
    pub fn backend(&self) -> String {
        unsafe { cstr(sys::ef_session_backend(self.as_ptr())) }
    }

    /// Writes a snapshot of seq (sys::EF_SEQ_ALL: every sequence) to path.
    pub fn save(&mut self, seq: i32, path: &str) -> Result<()> {
        let path = c_string(path, "snapshot path")?;
        check(unsafe { sys::ef_session_save(self.as_ptr(), seq, path.as_ptr()) })
    }

    /// A snapshot of seq (sys::EF_SEQ_ALL: every sequence) in memory.
    pub fn save_to_vec(&mut self, seq: i32) -> Result<Vec<u8>> {
        let mut need = 0usize;
        let st = unsafe { sys::ef_session_save_buffer(self.as_ptr(), seq, ptr::null_mut(), 0, &mut need) };
        if st != sys::EF_OK && st != sys::EF_ERR_BUFFER_TOO_SMALL {
            check(st)?;
        }
        let mut buf = vec![0u8; need];
        check(unsafe {
            sys::ef_session_save_buffer(self.as_ptr(), seq, buf.as_mut_ptr() as *mut c_void, buf.len(), &mut need)
        })?;
        buf.truncate(need);
        Ok(buf)
    }

    /// Restores a snapshot file; on error the session is unchanged.
    pub fn restore(&mut self, seq: i32, path: &str) -> Result<()> {
        let path = c_string(path, "snapshot path")?;
        check(unsafe { sys::ef_session_restore(self.as_ptr(), seq, path.as_ptr()) })
    }

    /// Restores a snapshot from memory; on error the session is unchanged.
    pub fn restore_from_slice(&mut self, seq: i32, data: &[u8]) -> Result<()> {
        check(unsafe {
            sys::ef_session_restore_buffer(self.as_ptr(), seq, data.as_ptr() as *const c_void, data.len())
        })
    }

    pub fn as_ptr(&self) -> *mut sys::ef_session {
        self.raw.0.as_ptr()
    }

    /// A handle that cancels this session's running call from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { raw: Arc::clone(&self.raw) }
    }

    /// Asks a running eval/generate to stop (from its own callback, say).
    pub fn cancel(&self) {
        unsafe { sys::ef_session_cancel(self.as_ptr()) }
    }

    pub fn n_ctx(&self) -> i32 {
        unsafe { sys::ef_session_n_ctx(self.as_ptr()) }
    }
    pub fn n_past(&self) -> i32 {
        unsafe { sys::ef_session_n_past(self.as_ptr()) }
    }
    /// "weight-only" or "integer-dot": how quantized weights are multiplied.
    pub fn matmul_mode(&self) -> String {
        let p = unsafe { sys::ef_session_matmul_mode(self.as_ptr()) };
        if p.is_null() {
            return String::new();
        }
        unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }
    /// Message of the session's last failed call ("" if none).
    pub fn errmsg(&self) -> String {
        unsafe { cstr(sys::ef_session_errmsg(self.as_ptr())) }
    }

    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::ef_session_reset(self.as_ptr()) })
    }

    /// Appends tokens to the context and runs the model over them.
    pub fn eval(&mut self, tokens: &[i32], all_logits: bool) -> Result<()> {
        let flags = if all_logits { sys::EF_EVAL_ALL_LOGITS } else { 0 };
        check(unsafe { sys::ef_session_eval(self.as_ptr(), tokens.as_ptr(), tokens.len(), flags) })
    }

    /// Logits of row `index` of the last eval (-1: its last token); borrowed
    /// until the next call that changes the session.
    pub fn logits(&mut self, index: i32) -> Result<&[f32]> {
        let mut p: *const f32 = ptr::null();
        check(unsafe { sys::ef_session_logits(self.as_ptr(), index, &mut p) })?;
        if p.is_null() {
            return Err(Error::new(sys::EF_ERR_INTERNAL, "ef_session_logits returned NULL"));
        }
        Ok(unsafe { std::slice::from_raw_parts(p, self.n_vocab) })
    }

    pub fn set_sampler(&mut self, p: &SamplerParams) -> Result<()> {
        unsafe {
            let mut raw = ptr::null_mut();
            check(sys::ef_sampler_params_create(&mut raw))?;
            let _g = Guard(raw, sys::ef_sampler_params_free);
            check(sys::ef_sampler_params_set_temperature(raw, p.temperature))?;
            check(sys::ef_sampler_params_set_top_k(raw, p.top_k))?;
            check(sys::ef_sampler_params_set_top_p(raw, p.top_p))?;
            check(sys::ef_sampler_params_set_min_p(raw, p.min_p))?;
            check(sys::ef_sampler_params_set_repeat_penalty(raw, p.repeat_penalty, p.repeat_last_n))?;
            check(sys::ef_sampler_params_set_seed(raw, p.seed))?;
            check(sys::ef_session_set_sampler(self.as_ptr(), raw))
        }
    }

    /// Samples one token from the last logits (does not evaluate it).
    pub fn sample(&mut self) -> Result<i32> {
        let mut tok = -1;
        check(unsafe { sys::ef_session_sample(self.as_ptr(), &mut tok) })?;
        Ok(tok)
    }

    /// ef_session_generate with the raw bytes of each token: on_token(id, bytes)
    /// returns true to continue, false to stop (bytes are complete UTF-8
    /// characters, or invalid bytes passed through; id -1 delivers a final
    /// incomplete tail). Returns all generated bytes. A panic in on_token stops
    /// generation and resumes after the C call returns.
    pub fn generate_bytes<F>(&mut self, prompt: &str, max_tokens: i32, mut on_token: F) -> Result<Vec<u8>>
    where
        F: FnMut(i32, &[u8]) -> bool,
    {
        struct Ctx<'f> {
            f: &'f mut dyn FnMut(i32, &[u8]) -> bool,
            text: Vec<u8>,
            panic: Option<Box<dyn Any + Send>>,
        }
        unsafe extern "C" fn trampoline(user: *mut c_void, token: i32, text: *const c_char, len: usize) -> i32 {
            let ctx = &mut *(user as *mut Ctx<'_>);
            if ctx.panic.is_some() {
                return 1;
            }
            let bytes: &[u8] =
                if len == 0 || text.is_null() { &[] } else { std::slice::from_raw_parts(text as *const u8, len) };
            ctx.text.extend_from_slice(bytes);
            let f = &mut ctx.f;
            match panic::catch_unwind(AssertUnwindSafe(|| f(token, bytes))) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(payload) => {
                    ctx.panic = Some(payload);
                    1
                }
            }
        }
        let mut ctx = Ctx { f: &mut on_token, text: Vec::new(), panic: None };
        let st = unsafe {
            sys::ef_session_generate(
                self.as_ptr(),
                prompt.as_ptr() as *const c_char,
                prompt.len(),
                max_tokens,
                Some(trampoline),
                &mut ctx as *mut Ctx<'_> as *mut c_void,
            )
        };
        if let Some(payload) = ctx.panic.take() {
            panic::resume_unwind(payload);
        }
        check(st)?;
        Ok(ctx.text)
    }

    /// Streams generated text: on_token(id, text) returns true to continue.
    /// Invalid UTF-8 becomes U+FFFD. Returns the whole generated text.
    pub fn generate<F>(&mut self, prompt: &str, max_tokens: i32, mut on_token: F) -> Result<String>
    where
        F: FnMut(i32, &str) -> bool,
    {
        let bytes = self.generate_bytes(prompt, max_tokens, |tok, b| on_token(tok, &String::from_utf8_lossy(b)))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn stat(&self, key: i32) -> Result<f64> {
        let mut v = 0f64;
        check(unsafe { sys::ef_session_stat(self.as_ptr(), key, &mut v) })?;
        Ok(v)
    }

    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            prompt_tokens: self.stat(sys::EF_STAT_PROMPT_TOKENS)? as u64,
            prompt_seconds: self.stat(sys::EF_STAT_PROMPT_SECONDS)?,
            gen_tokens: self.stat(sys::EF_STAT_GEN_TOKENS)? as u64,
            gen_seconds: self.stat(sys::EF_STAT_GEN_SECONDS)?,
            stop_reason: StopReason::from_code(self.stat(sys::EF_STAT_STOP_REASON)? as i32),
            memory_used: self.stat(sys::EF_STAT_MEMORY_USED)? as u64,
            memory_peak: self.stat(sys::EF_STAT_MEMORY_PEAK)? as u64,
            memory_budget: self.stat(sys::EF_STAT_MEMORY_BUDGET)? as u64,
            kv_bytes_per_token: self.stat(sys::EF_STAT_KV_BYTES_PER_TOKEN)? as u64,
            prefill_chunk: self.stat(sys::EF_STAT_PREFILL_CHUNK)? as u64,
            sparse_skipped: self.stat(sys::EF_STAT_SPARSE_SKIPPED)?,
        })
    }
}
