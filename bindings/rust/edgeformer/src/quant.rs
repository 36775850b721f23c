//! QuantProfile and quantize_file.
use std::any::Any;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};

use edgeformer_sys as sys;

use crate::error::{check, cstr, Error, Result};
use crate::model::{c_string, path_cstring};

/// A quantization profile ("balanced", "fast", "experimental", "ternary",
/// "f16", "f32"), refined with rules.
#[derive(Debug)]
pub struct QuantProfile {
    ptr: NonNull<sys::ef_quant_profile>,
}

// Plain data owned by this value; the library copies it when it is used.
unsafe impl Send for QuantProfile {}

impl QuantProfile {
    pub fn new(name: &str) -> Result<Self> {
        let n = c_string(name, "profile name")?;
        let mut out = ptr::null_mut();
        check(unsafe { sys::ef_quant_profile_create(n.as_ptr(), &mut out) })?;
        NonNull::new(out)
            .map(|ptr| QuantProfile { ptr })
            .ok_or_else(|| Error::new(sys::EF_ERR_INTERNAL, "ef_quant_profile_create returned no profile"))
    }

    pub fn as_ptr(&self) -> *mut sys::ef_quant_profile {
        self.ptr.as_ptr()
    }

    pub fn name(&self) -> String {
        unsafe { cstr(sys::ef_quant_profile_name(self.as_ptr())) }
    }

    pub fn set_default_type(&mut self, type_name: &str) -> Result<&mut Self> {
        let t = c_string(type_name, "type name")?;
        check(unsafe { sys::ef_quant_profile_set_default_type(self.as_ptr(), t.as_ptr()) })?;
        Ok(self)
    }

    pub fn add_rule(&mut self, pattern: &str, type_name: &str) -> Result<&mut Self> {
        let p = c_string(pattern, "pattern")?;
        let t = c_string(type_name, "type name")?;
        check(unsafe { sys::ef_quant_profile_add_rule(self.as_ptr(), p.as_ptr(), t.as_ptr()) })?;
        Ok(self)
    }

    pub fn keep_embeddings(&mut self, type_name: &str) -> Result<&mut Self> {
        let t = c_string(type_name, "type name")?;
        check(unsafe { sys::ef_quant_profile_keep_embeddings(self.as_ptr(), t.as_ptr()) })?;
        Ok(self)
    }
}

impl Drop for QuantProfile {
    fn drop(&mut self) {
        unsafe { sys::ef_quant_profile_free(self.ptr.as_ptr()) }
    }
}

/// Writes a quantized copy of a GGUF file; returns (tensor bytes in, out).
/// progress(item, done, total) returns true to continue, false to cancel.
pub fn quantize_file<F>(
    in_path: impl AsRef<Path>,
    out_path: impl AsRef<Path>,
    profile: &QuantProfile,
    progress: Option<F>,
) -> Result<(u64, u64)>
where
    F: FnMut(&str, u64, u64) -> bool,
{
    let i = path_cstring(in_path.as_ref())?;
    let o = path_cstring(out_path.as_ref())?;
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    with_progress(progress, |cb, user| unsafe {
        sys::ef_quantize_file(i.as_ptr(), o.as_ptr(), profile.as_ptr(), cb, user, &mut bytes_in, &mut bytes_out)
    })?;
    Ok((bytes_in, bytes_out))
}

/// Converts a Hugging Face checkpoint folder (config.json, *.safetensors,
/// tokenizer.json) into one GGUF file. type_name ("f32", "f16", "bf16",
/// "q8_0"...; None = "f16") sets the weight matrices' type. progress returns
/// true to continue, false to cancel; no file is left behind on failure.
pub fn convert_hf<F>(
    hf_dir: impl AsRef<Path>,
    out_path: impl AsRef<Path>,
    type_name: Option<&str>,
    progress: Option<F>,
) -> Result<()>
where
    F: FnMut(&str, u64, u64) -> bool,
{
    let d = path_cstring(hf_dir.as_ref())?;
    let o = path_cstring(out_path.as_ref())?;
    let t = type_name.map(|t| c_string(t, "type name")).transpose()?;
    let tp = t.as_ref().map_or(ptr::null(), |t| t.as_ptr());
    with_progress(progress, |cb, user| unsafe { sys::ef_convert_hf(d.as_ptr(), o.as_ptr(), tp, cb, user) })
}

/// Runs `call` with an ef_progress_fn that forwards to `progress`. A panic in
/// progress cancels the call and resumes once it has returned.
fn with_progress<F>(progress: Option<F>, call: impl FnOnce(sys::ef_progress_fn, *mut c_void) -> i32) -> Result<()>
where
    F: FnMut(&str, u64, u64) -> bool,
{
    struct Ctx<F> {
        f: F,
        panic: Option<Box<dyn Any + Send>>,
    }
    unsafe extern "C" fn trampoline<F: FnMut(&str, u64, u64) -> bool>(
        user: *mut c_void,
        item: *const c_char,
        done: u64,
        total: u64,
    ) -> i32 {
        let ctx = &mut *(user as *mut Ctx<F>);
        if ctx.panic.is_some() {
            return 1;
        }
        let item = if item.is_null() { "".into() } else { CStr::from_ptr(item).to_string_lossy() };
        let f = &mut ctx.f;
        match panic::catch_unwind(AssertUnwindSafe(|| f(&item, done, total))) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(p) => {
                ctx.panic = Some(p);
                1
            }
        }
    }
    let mut ctx = progress.map(|f| Ctx { f, panic: None });
    let st = match ctx.as_mut() {
        Some(c) => call(Some(trampoline::<F>), c as *mut Ctx<F> as *mut c_void),
        None => call(None, ptr::null_mut()),
    };
    if let Some(p) = ctx.as_mut().and_then(|c| c.panic.take()) {
        panic::resume_unwind(p);
    }
    check(st)
}
