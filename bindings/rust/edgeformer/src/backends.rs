//! The compute backends this process can use (ef_backend_*).
use std::ptr;

use edgeformer_sys as sys;

use crate::error::{check, cstr, Result};

/// One entry of the backend list; `reason` says why it is unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    pub name: String,
    pub available: bool,
    pub device: String,
    pub memory: u64,
    pub score: i32,
    pub reason: String,
    pub path: String,
}

/// Every backend found (the built-in cpu first), available or not.
pub fn backends() -> Result<Vec<BackendInfo>> {
    let n = unsafe { sys::ef_backend_count() };
    let mut out = Vec::with_capacity(n.max(0) as usize);
    for i in 0..n {
        let mut b = ptr::null();
        check(unsafe { sys::ef_backend_get(i, &mut b) })?;
        unsafe {
            out.push(BackendInfo {
                name: cstr(sys::ef_backend_name(b)),
                available: sys::ef_backend_available(b) != 0,
                device: cstr(sys::ef_backend_device(b)),
                memory: sys::ef_backend_memory(b),
                score: sys::ef_backend_score(b),
                reason: cstr(sys::ef_backend_unavailable_reason(b)),
                path: cstr(sys::ef_backend_path(b)),
            });
        }
    }
    Ok(out)
}
