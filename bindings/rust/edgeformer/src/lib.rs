//! Safe Rust bindings of libedgeformer.
//!
//! ```no_run
//! use edgeformer::{Model, SamplerParams, SessionOptions};
//! let model = Model::load("model.gguf")?;
//! let mut session = model.session(&SessionOptions::default())?;
//! session.set_sampler(&SamplerParams::greedy())?;
//! session.generate("Once upon a time", 32, |_, text| {
//!     print!("{text}");
//!     true // continue
//! })?;
//! # Ok::<(), edgeformer::Error>(())
//! ```
//!
//! `Model` is Send + Sync (immutable, shareable); `Session` is Send but not
//! Sync (one thread at a time) and a `CancelHandle` stops it from elsewhere.
//! `Trainer` (built from `TrainParams`) trains or fine-tunes a small model
//! and exports it as a GGUF file.
//! Every failure is an `Error` with the ef_status and the library's message.
use std::ffi::{c_char, c_void};
use std::sync::{Mutex, OnceLock};

pub use edgeformer_sys as sys;

mod backends;
mod chat;
mod error;
mod kv;
mod model;
mod quant;
mod session;
mod train;

pub use backends::{backends, BackendInfo};
pub use chat::{apply_chat_template, ChatMessage};
pub use error::{status_name, Error, ErrorKind, Result};
pub use kv::{KvCache, KvOps, KvOptions, KvTier, TierStats};
pub use model::{Model, ModelOptions, TensorInfo};
pub use quant::{convert_hf, quantize_file, QuantProfile};
pub use session::{CancelHandle, MlaPath, SamplerParams, Session, SessionOptions, Stats, StopReason};
pub use train::{train_tokenizer, TrainParams, Trainer};

/// The loaded library's version, "MAJOR.MINOR.PATCH".
pub fn version() -> String {
    unsafe { error::cstr(sys::ef_version_string()) }
}

/// MAJOR*1000000 + MINOR*1000 + PATCH of the loaded library.
pub fn version_number() -> u32 {
    unsafe { sys::ef_version_number() }
}

/// This thread's last error message.
pub fn last_error() -> String {
    unsafe { error::cstr(sys::ef_last_error()) }
}

/// Name of a GGUF tensor type id ("F32", "Q4_K").
pub fn tensor_type_name(type_id: u32) -> String {
    unsafe { error::cstr(sys::ef_tensor_type_name(type_id)) }
}

type LogFn = Box<dyn Fn(i32, &str) + Send + Sync>;

fn log_slot() -> &'static Mutex<Option<LogFn>> {
    static SLOT: OnceLock<Mutex<Option<LogFn>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

unsafe extern "C" fn log_trampoline(_user: *mut c_void, level: i32, message: *const c_char) {
    let msg = error::cstr(message);
    let _ = std::panic::catch_unwind(|| {
        if let Ok(slot) = log_slot().lock() {
            if let Some(f) = slot.as_ref() {
                f(level, &msg);
            }
        }
    });
}

/// Routes the library's diagnostics (up to max_level, e.g. sys::EF_LOG_INFO)
/// to f; None discards them. f may run on worker threads. Call before
/// creating handles.
pub fn set_log_callback(f: Option<LogFn>, max_level: i32) {
    let on = f.is_some();
    if let Ok(mut slot) = log_slot().lock() {
        *slot = f;
    }
    unsafe {
        if on {
            sys::ef_set_log_callback(Some(log_trampoline), std::ptr::null_mut(), max_level)
        } else {
            sys::ef_set_log_callback(None, std::ptr::null_mut(), max_level)
        }
    }
}

/// Replaces the library's allocator (all three functions, or all None).
///
/// # Safety
/// No model or session may exist, the functions must behave like
/// malloc/realloc/free, and `user` must stay valid while they are installed.
pub unsafe fn set_allocator(
    malloc_fn: sys::ef_malloc_fn,
    realloc_fn: sys::ef_realloc_fn,
    free_fn: sys::ef_free_fn,
    user: *mut c_void,
) -> Result<()> {
    error::check(sys::ef_set_allocator(malloc_fn, realloc_fn, free_fn, user))
}
