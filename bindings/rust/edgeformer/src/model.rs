//! Model: a loaded GGUF file. Immutable, so it is Send + Sync; its sessions
//! hold their own native reference and may outlive it.
use std::ffi::{c_char, CString};
use std::path::Path;
use std::ptr::{self, NonNull};

use edgeformer_sys as sys;

use crate::error::{check, cstr, Error, Result};
use crate::quant::QuantProfile;
use crate::session::{Session, SessionOptions};

/// Options of Model::load_with.
#[derive(Debug, Clone, Default)]
pub struct ModelOptions<'a> {
    /// Threads used while loading; 0 = all cores.
    pub threads: i32,
    /// Read the file into memory instead of mapping it.
    pub no_mmap: bool,
    /// Backend name ("cpu", "auto"); None = the library's default.
    pub backend: Option<String>,
    /// Quantize the weights in memory while loading.
    pub quant_profile: Option<&'a QuantProfile>,
}

/// One tensor of the model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub type_id: u32,
    pub type_name: String,
    /// ne[0..n_dims), ne[0] the contiguous dimension.
    pub shape: Vec<i64>,
}

pub struct Model {
    ptr: NonNull<sys::ef_model>,
}

// ef_model is immutable after load and documented as shareable between threads.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

pub(crate) fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(sys::EF_ERR_INVALID_ARG, format!("{what} contains a NUL byte")))
}

pub(crate) fn path_cstring(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| Error::new(sys::EF_ERR_INVALID_ARG, "path is not valid Unicode"))?
        .as_bytes()
        .to_vec();
    CString::new(bytes).map_err(|_| Error::new(sys::EF_ERR_INVALID_ARG, "path contains a NUL byte"))
}

/// Frees option objects however a constructor exits.
pub(crate) struct Guard<T>(pub *mut T, pub unsafe extern "C" fn(*mut T));
impl<T> Drop for Guard<T> {
    fn drop(&mut self) {
        unsafe { (self.1)(self.0) }
    }
}

/// Runs a two-call getter of a NUL-terminated string.
pub(crate) fn two_call_string(mut f: impl FnMut(*mut c_char, usize, *mut usize) -> i32) -> Result<String> {
    let mut needed = 0usize;
    let st = f(ptr::null_mut(), 0, &mut needed);
    if st != sys::EF_OK && st != sys::EF_ERR_BUFFER_TOO_SMALL {
        return Err(Error::last(st));
    }
    let mut buf = vec![0u8; needed.max(1)];
    check(f(buf.as_mut_ptr() as *mut c_char, buf.len(), &mut needed))?;
    buf.truncate(needed.saturating_sub(1));
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

impl Model {
    /// Loads a GGUF file with default options.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        Model::load_with(path, &ModelOptions::default())
    }

    pub fn load_with(path: impl AsRef<Path>, opts: &ModelOptions<'_>) -> Result<Model> {
        let cpath = path_cstring(path.as_ref())?;
        unsafe {
            let mut params = ptr::null_mut();
            check(sys::ef_model_params_create(&mut params))?;
            let _g = Guard(params, sys::ef_model_params_free);
            check(sys::ef_model_params_set_threads(params, opts.threads))?;
            check(sys::ef_model_params_set_mmap(params, if opts.no_mmap { 0 } else { 1 }))?;
            if let Some(b) = &opts.backend {
                let b = c_string(b, "backend name")?;
                check(sys::ef_model_params_set_backend(params, b.as_ptr()))?;
            }
            if let Some(q) = opts.quant_profile {
                check(sys::ef_model_params_set_quant_profile(params, q.as_ptr()))?;
            }
            let mut out = ptr::null_mut();
            check(sys::ef_model_load(cpath.as_ptr(), params, &mut out))?;
            NonNull::new(out)
                .map(|ptr| Model { ptr })
                .ok_or_else(|| Error::new(sys::EF_ERR_INTERNAL, "ef_model_load returned no model"))
        }
    }

    pub fn as_ptr(&self) -> *mut sys::ef_model {
        self.ptr.as_ptr()
    }

    pub fn arch(&self) -> String {
        unsafe { cstr(sys::ef_model_arch(self.as_ptr())) }
    }
    pub fn n_params(&self) -> u64 {
        unsafe { sys::ef_model_n_params(self.as_ptr()) }
    }
    pub fn size_bytes(&self) -> u64 {
        unsafe { sys::ef_model_size_bytes(self.as_ptr()) }
    }
    pub fn n_ctx_train(&self) -> i32 {
        unsafe { sys::ef_model_n_ctx_train(self.as_ptr()) }
    }
    pub fn n_vocab(&self) -> i32 {
        unsafe { sys::ef_model_n_vocab(self.as_ptr()) }
    }
    pub fn n_embd(&self) -> i32 {
        unsafe { sys::ef_model_n_embd(self.as_ptr()) }
    }
    /// What the model offers for sparse decoding: (EF_SPARSITY_* flags,
    /// the level its calibration targeted).
    pub fn sparsity(&self) -> (u32, f32) {
        let mut level = 0f32;
        let flags = unsafe { sys::ef_model_sparsity(self.as_ptr(), &mut level) };
        (flags, level)
    }

    /// Writes a copy of the model file with activation-sparsity thresholds
    /// calibrated on `text` (default level `target`).
    pub fn calibrate_sparsity(&self, text: &str, target: f32, out_path: &str) -> Result<()> {
        let out = c_string(out_path, "output path")?;
        check(unsafe {
            sys::ef_sparsity_calibrate(self.as_ptr(), text.as_ptr() as *const std::ffi::c_char, text.len(), target, out.as_ptr())
        })
    }

    pub fn n_layer(&self) -> i32 {
        unsafe { sys::ef_model_n_layer(self.as_ptr()) }
    }

    /// Metadata keys in file order.
    pub fn meta_keys(&self) -> Result<Vec<String>> {
        let n = unsafe { sys::ef_model_meta_count(self.as_ptr()) };
        (0..n)
            .map(|i| two_call_string(|b, c, n| unsafe { sys::ef_model_meta_key(self.as_ptr(), i, b, c, n) }))
            .collect()
    }

    /// A metadata value rendered as text; Err(NotFound) when absent.
    pub fn meta_get(&self, key: &str) -> Result<String> {
        let k = c_string(key, "metadata key")?;
        two_call_string(|b, c, n| unsafe { sys::ef_model_meta_get(self.as_ptr(), k.as_ptr(), b, c, n) })
    }

    /// All metadata as (key, value) pairs in file order.
    pub fn metadata(&self) -> Result<Vec<(String, String)>> {
        self.meta_keys()?.into_iter().map(|k| self.meta_get(&k).map(|v| (k, v))).collect()
    }

    pub fn tensors(&self) -> Result<Vec<TensorInfo>> {
        let n = unsafe { sys::ef_model_tensor_count(self.as_ptr()) };
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for i in 0..n {
            let mut name = ptr::null();
            let mut type_id = 0u32;
            let mut n_dims = 0i32;
            let mut ne = [1i64; 4];
            unsafe {
                check(sys::ef_model_tensor_info(
                    self.as_ptr(),
                    i,
                    &mut name,
                    &mut type_id,
                    &mut n_dims,
                    ne.as_mut_ptr(),
                ))?;
                out.push(TensorInfo {
                    name: cstr(name),
                    type_id,
                    type_name: crate::tensor_type_name(type_id),
                    shape: ne[..n_dims.clamp(0, 4) as usize].to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// Token ids of text. add_special: BOS/EOS as the model asks; parse_special:
    /// recognise control-token texts.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<i32>> {
        let flags = (if add_special { sys::EF_TOKENIZE_ADD_SPECIAL } else { 0 })
            | (if parse_special { sys::EF_TOKENIZE_PARSE_SPECIAL } else { 0 });
        let mut needed = 0usize;
        let tp = text.as_ptr() as *const c_char;
        unsafe {
            let st = sys::ef_tokenize(self.as_ptr(), tp, text.len(), flags, ptr::null_mut(), 0, &mut needed);
            if st != sys::EF_OK && st != sys::EF_ERR_BUFFER_TOO_SMALL {
                return Err(Error::last(st));
            }
            let mut ids = vec![0i32; needed];
            check(sys::ef_tokenize(self.as_ptr(), tp, text.len(), flags, ids.as_mut_ptr(), ids.len(), &mut needed))?;
            ids.truncate(needed);
            Ok(ids)
        }
    }

    /// The bytes of tokens (a partial sequence need not be valid UTF-8).
    pub fn detokenize_bytes(&self, tokens: &[i32], render_special: bool) -> Result<Vec<u8>> {
        let flags = if render_special { sys::EF_DETOKENIZE_RENDER_SPECIAL } else { 0 };
        let mut needed = 0usize;
        unsafe {
            let st = sys::ef_detokenize(
                self.as_ptr(),
                tokens.as_ptr(),
                tokens.len(),
                flags,
                ptr::null_mut(),
                0,
                &mut needed,
            );
            if st != sys::EF_OK && st != sys::EF_ERR_BUFFER_TOO_SMALL {
                return Err(Error::last(st));
            }
            let mut buf = vec![0u8; needed];
            check(sys::ef_detokenize(
                self.as_ptr(),
                tokens.as_ptr(),
                tokens.len(),
                flags,
                buf.as_mut_ptr() as *mut c_char,
                buf.len(),
                &mut needed,
            ))?;
            buf.truncate(needed);
            Ok(buf)
        }
    }

    /// The text of tokens; invalid UTF-8 becomes U+FFFD.
    pub fn detokenize(&self, tokens: &[i32], render_special: bool) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.detokenize_bytes(tokens, render_special)?).into_owned())
    }

    /// The vocabulary piece of a token; None when out of range.
    pub fn token_text(&self, token: i32) -> Option<String> {
        let p = unsafe { sys::ef_token_text(self.as_ptr(), token) };
        if p.is_null() {
            None
        } else {
            Some(unsafe { cstr(p) })
        }
    }
    /// Beginning-of-sequence token, if the model has one.
    pub fn bos(&self) -> Option<i32> {
        Some(unsafe { sys::ef_token_bos(self.as_ptr()) }).filter(|&t| t >= 0)
    }
    /// End-of-sequence token, if the model has one.
    pub fn eos(&self) -> Option<i32> {
        Some(unsafe { sys::ef_token_eos(self.as_ptr()) }).filter(|&t| t >= 0)
    }
    pub fn is_eog(&self, token: i32) -> bool {
        unsafe { sys::ef_token_is_eog(self.as_ptr(), token) != 0 }
    }

    /// A new session on this model.
    pub fn session(&self, opts: &SessionOptions) -> Result<Session> {
        Session::new(self, opts)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::ef_model_free(self.ptr.as_ptr()) }
    }
}
