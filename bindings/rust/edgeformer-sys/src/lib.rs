//! Raw declarations of the C ABI in `include/edgeformer/edgeformer.h`,
//! written by hand, one item per header item and in header order.
//! `tests/header_names.rs` checks that every `EF_API` function of the header
//! is declared here and nothing else. Use the `edgeformer` crate for a safe API.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};
use std::marker::{PhantomData, PhantomPinned};

/// Declares an opaque C struct: only pointers to it exist.
macro_rules! opaque {
    ($($name:ident),* $(,)?) => {$(
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

opaque!(
    ef_backend,
    ef_kv_cache,
    ef_kv_params,
    ef_model,
    ef_model_params,
    ef_quant_profile,
    ef_sampler_params,
    ef_session,
    ef_session_params,
    ef_train_params,
    ef_trainer,
);

// ---- version ----
pub const EF_VERSION_MAJOR: u32 = 0;
pub const EF_VERSION_MINOR: u32 = 1;
pub const EF_VERSION_PATCH: u32 = 0;
pub const EF_VERSION_NUMBER: u32 = EF_VERSION_MAJOR * 1_000_000 + EF_VERSION_MINOR * 1000 + EF_VERSION_PATCH;

// ---- status codes ----
pub type ef_status = i32;
pub const EF_OK: ef_status = 0;
pub const EF_ERR_INVALID_ARG: ef_status = 1;
pub const EF_ERR_NO_MEMORY: ef_status = 2;
pub const EF_ERR_IO: ef_status = 3;
pub const EF_ERR_FORMAT: ef_status = 4;
pub const EF_ERR_UNSUPPORTED: ef_status = 5;
pub const EF_ERR_BUDGET: ef_status = 6;
pub const EF_ERR_CONTEXT_FULL: ef_status = 7;
pub const EF_ERR_CANCELLED: ef_status = 8;
pub const EF_ERR_NOT_FOUND: ef_status = 9;
pub const EF_ERR_BUFFER_TOO_SMALL: ef_status = 10;
pub const EF_ERR_BACKEND: ef_status = 11;
pub const EF_ERR_UNAVAILABLE: ef_status = 12;
pub const EF_ERR_STATE: ef_status = 13;
pub const EF_ERR_MISMATCH: ef_status = 14;
pub const EF_ERR_CORRUPT: ef_status = 15;
pub const EF_ERR_INTERNAL: ef_status = 16;

// ---- logging ----
pub const EF_LOG_ERROR: i32 = 0;
pub const EF_LOG_WARN: i32 = 1;
pub const EF_LOG_INFO: i32 = 2;
pub const EF_LOG_DEBUG: i32 = 3;
pub type ef_log_fn = Option<unsafe extern "C" fn(user: *mut c_void, level: i32, message: *const c_char)>;

// ---- memory ----
pub type ef_malloc_fn = Option<unsafe extern "C" fn(user: *mut c_void, size: usize) -> *mut c_void>;
pub type ef_realloc_fn = Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void>;
pub type ef_free_fn = Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void)>;

// ---- progress ----
pub type ef_progress_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, item: *const c_char, done: u64, total: u64) -> i32>;

// ---- tokens ----
pub const EF_TOKENIZE_ADD_SPECIAL: u32 = 1;
pub const EF_TOKENIZE_PARSE_SPECIAL: u32 = 2;
pub const EF_DETOKENIZE_RENDER_SPECIAL: u32 = 1;

// ---- sessions ----
pub const EF_EVAL_ALL_LOGITS: u32 = 1;
pub type ef_token_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, token: i32, text: *const c_char, text_len: usize) -> i32>;

pub const EF_STAT_PROMPT_TOKENS: i32 = 1;
pub const EF_STAT_PROMPT_SECONDS: i32 = 2;
pub const EF_STAT_GEN_TOKENS: i32 = 3;
pub const EF_STAT_GEN_SECONDS: i32 = 4;
pub const EF_STAT_STOP_REASON: i32 = 5;
pub const EF_STAT_MEMORY_USED: i32 = 6;
pub const EF_STAT_MEMORY_PEAK: i32 = 7;
pub const EF_STAT_MEMORY_BUDGET: i32 = 8;
pub const EF_STAT_KV_BYTES_PER_TOKEN: i32 = 9;
pub const EF_STAT_PREFILL_CHUNK: i32 = 10;
pub const EF_STAT_SPARSE_SKIPPED: i32 = 11;
pub const EF_MLA_PATH_AUTO: i32 = 0;
pub const EF_MLA_PATH_ABSORBED: i32 = 1;
pub const EF_MLA_PATH_EXPANDED: i32 = 2;

pub const EF_STOP_NONE: i32 = 0;
pub const EF_STOP_EOG: i32 = 1;
pub const EF_STOP_MAX_TOKENS: i32 = 2;
pub const EF_STOP_CALLBACK: i32 = 3;
pub const EF_STOP_CANCELLED: i32 = 4;
pub const EF_STOP_CONTEXT_FULL: i32 = 5;

// ---- KV cache ----
pub const EF_KV_TIER_HOT: i32 = 0;
pub const EF_KV_TIER_RAM: i32 = 1;
pub const EF_KV_TIER_ZSTD: i32 = 2;
pub const EF_KV_TIER_DISK: i32 = 3;
pub const EF_KV_N_TIERS: i32 = 4;
pub const EF_KV_STAT_BYTES: i32 = 1;
pub const EF_KV_STAT_PAGES: i32 = 2;
pub const EF_KV_STAT_RAW_BYTES: i32 = 3;
pub const EF_KV_STAT_OFFLOADS: i32 = 4;
pub const EF_KV_STAT_RESTORES: i32 = 5;
pub const EF_KV_STAT_OFFLOAD_SECONDS: i32 = 6;
pub const EF_KV_STAT_RESTORE_SECONDS: i32 = 7;
pub const EF_KV_STAT_HIT_RATE: i32 = 8;
pub const EF_KV_STAT_PAGE_SIZE: i32 = 9;
pub const EF_KV_STAT_PAGE_BYTES: i32 = 10;
pub const EF_KV_STAT_TOKENS: i32 = 11;
pub const EF_KV_STAT_SHARED_PAGES: i32 = 12;

// ---- snapshots ----
pub const EF_SEQ_ALL: i32 = -1;

// ---- sparse MLP ----
pub const EF_SPARSITY_THRESHOLDS: u32 = 1;
pub const EF_SPARSITY_MASKED: u32 = 2;
pub const EF_SPARSITY_RELU: u32 = 4;

extern "C" {
    // version
    pub fn ef_version_number() -> u32;
    pub fn ef_version_string() -> *const c_char;

    // status
    pub fn ef_status_str(status: ef_status) -> *const c_char;
    pub fn ef_last_error() -> *const c_char;

    // logging and memory
    pub fn ef_set_log_callback(func: ef_log_fn, user: *mut c_void, max_level: i32);
    pub fn ef_set_allocator(
        malloc_fn: ef_malloc_fn,
        realloc_fn: ef_realloc_fn,
        free_fn: ef_free_fn,
        user: *mut c_void,
    ) -> ef_status;

    // model options
    pub fn ef_model_params_create(out: *mut *mut ef_model_params) -> ef_status;
    pub fn ef_model_params_free(params: *mut ef_model_params);
    pub fn ef_model_params_set_threads(params: *mut ef_model_params, n_threads: i32) -> ef_status;
    pub fn ef_model_params_set_mmap(params: *mut ef_model_params, use_mmap: i32) -> ef_status;
    pub fn ef_model_params_set_backend(params: *mut ef_model_params, name: *const c_char) -> ef_status;
    pub fn ef_model_params_set_quant_profile(
        params: *mut ef_model_params,
        profile: *const ef_quant_profile,
    ) -> ef_status;

    // models
    pub fn ef_model_load(path: *const c_char, params: *const ef_model_params, out: *mut *mut ef_model) -> ef_status;
    pub fn ef_model_free(model: *mut ef_model);
    pub fn ef_model_arch(model: *const ef_model) -> *const c_char;
    pub fn ef_model_n_params(model: *const ef_model) -> u64;
    pub fn ef_model_size_bytes(model: *const ef_model) -> u64;
    pub fn ef_model_n_ctx_train(model: *const ef_model) -> i32;
    pub fn ef_model_n_vocab(model: *const ef_model) -> i32;
    pub fn ef_model_n_embd(model: *const ef_model) -> i32;
    pub fn ef_model_n_layer(model: *const ef_model) -> i32;
    pub fn ef_model_meta_count(model: *const ef_model) -> i64;
    pub fn ef_model_meta_key(
        model: *const ef_model,
        index: i64,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> ef_status;
    pub fn ef_model_meta_get(
        model: *const ef_model,
        key: *const c_char,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> ef_status;
    pub fn ef_model_tensor_count(model: *const ef_model) -> i64;
    pub fn ef_model_tensor_info(
        model: *const ef_model,
        index: i64,
        name: *mut *const c_char,
        type_: *mut u32,
        n_dims: *mut i32,
        ne: *mut i64, // [4]
    ) -> ef_status;
    pub fn ef_tensor_type_name(type_: u32) -> *const c_char;

    // quantization
    pub fn ef_quant_profile_create(name: *const c_char, out: *mut *mut ef_quant_profile) -> ef_status;
    pub fn ef_quant_profile_free(profile: *mut ef_quant_profile);
    pub fn ef_quant_profile_name(profile: *const ef_quant_profile) -> *const c_char;
    pub fn ef_quant_profile_set_default_type(profile: *mut ef_quant_profile, type_name: *const c_char) -> ef_status;
    pub fn ef_quant_profile_add_rule(
        profile: *mut ef_quant_profile,
        pattern: *const c_char,
        type_name: *const c_char,
    ) -> ef_status;
    pub fn ef_quant_profile_keep_embeddings(profile: *mut ef_quant_profile, type_name: *const c_char) -> ef_status;
    pub fn ef_quantize_file(
        in_path: *const c_char,
        out_path: *const c_char,
        profile: *const ef_quant_profile,
        progress: ef_progress_fn,
        user: *mut c_void,
        bytes_in: *mut u64,
        bytes_out: *mut u64,
    ) -> ef_status;

    // conversion
    pub fn ef_convert_hf(
        hf_dir: *const c_char,
        out_path: *const c_char,
        type_name: *const c_char,
        progress: ef_progress_fn,
        user: *mut c_void,
    ) -> ef_status;

    // tokens
    pub fn ef_tokenize(
        model: *const ef_model,
        text: *const c_char,
        text_len: usize,
        flags: u32,
        tokens: *mut i32,
        cap: usize,
        n_tokens: *mut usize,
    ) -> ef_status;
    pub fn ef_detokenize(
        model: *const ef_model,
        tokens: *const i32,
        n_tokens: usize,
        flags: u32,
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> ef_status;
    pub fn ef_token_text(model: *const ef_model, token: i32) -> *const c_char;
    pub fn ef_token_bos(model: *const ef_model) -> i32;
    pub fn ef_token_eos(model: *const ef_model) -> i32;
    pub fn ef_token_is_eog(model: *const ef_model, token: i32) -> i32;

    // chat templates
    pub fn ef_chat_apply_template(
        model: *const ef_model,
        roles: *const *const c_char,
        contents: *const *const c_char,
        n_messages: usize,
        add_generation_prompt: i32,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> ef_status;
    pub fn ef_chat_apply_template_named(
        template_name: *const c_char,
        roles: *const *const c_char,
        contents: *const *const c_char,
        n_messages: usize,
        add_generation_prompt: i32,
        buf: *mut c_char,
        cap: usize,
        needed: *mut usize,
    ) -> ef_status;
    pub fn ef_chat_template_family(model: *const ef_model) -> *const c_char;

    // sampler options
    pub fn ef_sampler_params_create(out: *mut *mut ef_sampler_params) -> ef_status;
    pub fn ef_sampler_params_free(params: *mut ef_sampler_params);
    pub fn ef_sampler_params_set_temperature(p: *mut ef_sampler_params, temperature: f32) -> ef_status;
    pub fn ef_sampler_params_set_top_k(p: *mut ef_sampler_params, top_k: i32) -> ef_status;
    pub fn ef_sampler_params_set_top_p(p: *mut ef_sampler_params, top_p: f32) -> ef_status;
    pub fn ef_sampler_params_set_min_p(p: *mut ef_sampler_params, min_p: f32) -> ef_status;
    pub fn ef_sampler_params_set_repeat_penalty(p: *mut ef_sampler_params, penalty: f32, last_n: i32) -> ef_status;
    pub fn ef_sampler_params_set_seed(p: *mut ef_sampler_params, seed: u64) -> ef_status;

    // KV cache
    pub fn ef_kv_params_create(out: *mut *mut ef_kv_params) -> ef_status;
    pub fn ef_kv_params_free(params: *mut ef_kv_params);
    pub fn ef_kv_params_set_page_size(p: *mut ef_kv_params, tokens: i32) -> ef_status;
    pub fn ef_kv_params_set_types(p: *mut ef_kv_params, k_type: *const c_char, v_type: *const c_char) -> ef_status;
    pub fn ef_kv_params_set_n_ctx(p: *mut ef_kv_params, n_ctx: i32) -> ef_status;
    pub fn ef_kv_params_set_n_seq_max(p: *mut ef_kv_params, n_seq: i32) -> ef_status;
    pub fn ef_kv_params_set_tier_budget(p: *mut ef_kv_params, tier: i32, bytes: u64) -> ef_status;
    pub fn ef_kv_params_set_spill_dir(p: *mut ef_kv_params, dir: *const c_char) -> ef_status;
    pub fn ef_kv_params_set_compression(p: *mut ef_kv_params, zstd_level: i32) -> ef_status;
    pub fn ef_kv_cache_create(model: *mut ef_model, params: *const ef_kv_params, out: *mut *mut ef_kv_cache)
        -> ef_status;
    pub fn ef_kv_cache_free(kv: *mut ef_kv_cache);
    pub fn ef_kv_cache_errmsg(kv: *const ef_kv_cache) -> *const c_char;
    pub fn ef_kv_seq_clear(kv: *mut ef_kv_cache, seq: i32) -> ef_status;
    pub fn ef_kv_seq_remove(kv: *mut ef_kv_cache, seq: i32, p0: i32, p1: i32) -> ef_status;
    pub fn ef_kv_seq_copy(kv: *mut ef_kv_cache, src: i32, dst: i32) -> ef_status;
    pub fn ef_kv_seq_keep(kv: *mut ef_kv_cache, seq: i32) -> ef_status;
    pub fn ef_kv_seq_shift(kv: *mut ef_kv_cache, seq: i32, n_keep: i32, n_discard: i32) -> ef_status;
    pub fn ef_kv_seq_pos_range(kv: *const ef_kv_cache, seq: i32, pos_min: *mut i32, pos_max: *mut i32) -> ef_status;
    pub fn ef_kv_cache_stat(kv: *const ef_kv_cache, key: i32, tier: i32, value: *mut f64) -> ef_status;
    pub fn ef_kv_cache_type(kv: *const ef_kv_cache, which_v: i32) -> *const c_char;

    // session options
    pub fn ef_session_params_create(out: *mut *mut ef_session_params) -> ef_status;
    pub fn ef_session_params_free(params: *mut ef_session_params);
    pub fn ef_session_params_set_n_ctx(p: *mut ef_session_params, n_ctx: i32) -> ef_status;
    pub fn ef_session_params_set_threads(p: *mut ef_session_params, n_threads: i32) -> ef_status;
    pub fn ef_session_params_set_seed(p: *mut ef_session_params, seed: u64) -> ef_status;
    pub fn ef_session_params_set_n_batch(p: *mut ef_session_params, n_batch: i32) -> ef_status;
    pub fn ef_session_params_set_memory_budget(p: *mut ef_session_params, bytes: u64) -> ef_status;
    pub fn ef_session_params_set_kv_type(p: *mut ef_session_params, type_: *const c_char) -> ef_status;
    pub fn ef_session_params_set_matmul_mode(p: *mut ef_session_params, mode: *const c_char) -> ef_status;
    pub fn ef_session_params_set_mla_path(p: *mut ef_session_params, path: i32) -> ef_status;
    pub fn ef_session_params_set_window(p: *mut ef_session_params, window: i32) -> ef_status;
    pub fn ef_session_params_set_sinks(p: *mut ef_session_params, sinks: i32) -> ef_status;
    pub fn ef_session_params_set_kv_cache(p: *mut ef_session_params, kv: *mut ef_kv_cache) -> ef_status;
    pub fn ef_session_params_set_kv_params(p: *mut ef_session_params, kv: *const ef_kv_params) -> ef_status;
    pub fn ef_session_params_set_seq(p: *mut ef_session_params, seq: i32) -> ef_status;
    pub fn ef_session_params_set_context_shift(p: *mut ef_session_params, enable: i32, n_keep: i32) -> ef_status;
    pub fn ef_session_params_set_backend(p: *mut ef_session_params, name: *const c_char) -> ef_status;
    pub fn ef_session_params_set_backend_option(
        p: *mut ef_session_params,
        key: *const c_char,
        value: *const c_char,
    ) -> ef_status;
    pub fn ef_session_params_set_sparsity(p: *mut ef_session_params, level: f32) -> ef_status;

    // sessions
    pub fn ef_session_create(
        model: *mut ef_model,
        params: *const ef_session_params,
        out: *mut *mut ef_session,
    ) -> ef_status;
    pub fn ef_session_free(session: *mut ef_session);
    pub fn ef_session_errmsg(session: *const ef_session) -> *const c_char;
    pub fn ef_session_n_ctx(session: *const ef_session) -> i32;
    pub fn ef_session_n_past(session: *const ef_session) -> i32;
    pub fn ef_session_matmul_mode(session: *const ef_session) -> *const c_char;
    pub fn ef_session_reset(session: *mut ef_session) -> ef_status;
    pub fn ef_session_set_seq(session: *mut ef_session, seq: i32) -> ef_status;
    pub fn ef_session_seq(session: *const ef_session) -> i32;
    pub fn ef_session_kv_cache(session: *mut ef_session) -> *mut ef_kv_cache;
    pub fn ef_session_backend(session: *const ef_session) -> *const c_char;
    pub fn ef_session_eval(session: *mut ef_session, tokens: *const i32, n_tokens: usize, flags: u32) -> ef_status;
    pub fn ef_session_logits(session: *mut ef_session, index: i32, logits: *mut *const f32) -> ef_status;
    pub fn ef_session_set_sampler(session: *mut ef_session, params: *const ef_sampler_params) -> ef_status;
    pub fn ef_session_sample(session: *mut ef_session, token: *mut i32) -> ef_status;
    pub fn ef_session_generate(
        session: *mut ef_session,
        prompt: *const c_char,
        prompt_len: usize,
        max_tokens: i32,
        on_token: ef_token_fn,
        user: *mut c_void,
    ) -> ef_status;
    pub fn ef_session_cancel(session: *mut ef_session);
    pub fn ef_session_stat(session: *const ef_session, key: i32, value: *mut f64) -> ef_status;

    // snapshots
    pub fn ef_session_save(session: *mut ef_session, seq: i32, path: *const c_char) -> ef_status;
    pub fn ef_session_save_buffer(
        session: *mut ef_session,
        seq: i32,
        buf: *mut c_void,
        cap: usize,
        needed: *mut usize,
    ) -> ef_status;
    pub fn ef_session_restore(session: *mut ef_session, seq: i32, path: *const c_char) -> ef_status;
    pub fn ef_session_restore_buffer(session: *mut ef_session, seq: i32, buf: *const c_void, size: usize)
        -> ef_status;

    // backends
    pub fn ef_backend_count() -> i32;
    pub fn ef_backend_get(index: i32, out: *mut *const ef_backend) -> ef_status;
    pub fn ef_backend_name(b: *const ef_backend) -> *const c_char;
    pub fn ef_backend_device(b: *const ef_backend) -> *const c_char;
    pub fn ef_backend_path(b: *const ef_backend) -> *const c_char;
    pub fn ef_backend_available(b: *const ef_backend) -> i32;
    pub fn ef_backend_unavailable_reason(b: *const ef_backend) -> *const c_char;
    pub fn ef_backend_memory(b: *const ef_backend) -> u64;
    pub fn ef_backend_score(b: *const ef_backend) -> i32;

    // sparse MLP
    pub fn ef_model_sparsity(model: *const ef_model, default_level: *mut f32) -> u32;
    pub fn ef_sparsity_calibrate(
        model: *mut ef_model,
        text: *const c_char,
        text_len: usize,
        target: f32,
        out_path: *const c_char,
    ) -> ef_status;

    // training settings
    pub fn ef_train_params_create(out: *mut *mut ef_train_params) -> ef_status;
    pub fn ef_train_params_free(params: *mut ef_train_params);
    pub fn ef_train_params_set_int(params: *mut ef_train_params, key: *const c_char, value: i64) -> ef_status;
    pub fn ef_train_params_set_float(params: *mut ef_train_params, key: *const c_char, value: f64) -> ef_status;
    pub fn ef_train_params_set_str(params: *mut ef_train_params, key: *const c_char, value: *const c_char)
        -> ef_status;

    // tokenizer training
    pub fn ef_tokenizer_train(data: *const c_char, vocab_size: i32, out_path: *const c_char) -> ef_status;

    // trainers
    pub fn ef_trainer_create(params: *const ef_train_params, out: *mut *mut ef_trainer) -> ef_status;
    pub fn ef_trainer_free(trainer: *mut ef_trainer);
    pub fn ef_trainer_step(trainer: *mut ef_trainer, loss: *mut f32) -> ef_status;
    pub fn ef_trainer_evaluate(trainer: *mut ef_trainer, val_loss: *mut f32) -> ef_status;
    pub fn ef_trainer_step_count(trainer: *const ef_trainer) -> i64;
    pub fn ef_trainer_lr(trainer: *const ef_trainer) -> f32;
    pub fn ef_trainer_n_params(trainer: *const ef_trainer) -> u64;
    pub fn ef_trainer_tokens_per_step(trainer: *const ef_trainer) -> i64;
    pub fn ef_trainer_save(trainer: *const ef_trainer, path: *const c_char) -> ef_status;
    pub fn ef_trainer_load(trainer: *mut ef_trainer, path: *const c_char) -> ef_status;
    pub fn ef_trainer_export(trainer: *const ef_trainer, path: *const c_char) -> ef_status;
}
