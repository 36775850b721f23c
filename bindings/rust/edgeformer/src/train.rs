//! TrainParams and Trainer: training or fine-tuning a small model on the CPU.
use std::path::Path;
use std::ptr::{self, NonNull};

use edgeformer_sys as sys;

use crate::error::{check, Error, Result};
use crate::model::{c_string, path_cstring};

/// Training settings, set by key (see ef_train_params_set_int/_float/_str in
/// edgeformer.h for the keys and their defaults).
///
/// ```no_run
/// use edgeformer::{TrainParams, Trainer};
/// let mut p = TrainParams::new()?;
/// p.set_str("text", "the cat sat on the mat. ")?.set_str("vocab", "synthetic:300")?;
/// p.set_int("dim", 32)?.set_int("layers", 1)?.set_float("lr", 1e-3)?;
/// let mut t = Trainer::new(&p)?;
/// let loss = t.step()?;
/// t.export("tiny.gguf")?;
/// # Ok::<(), edgeformer::Error>(())
/// ```
#[derive(Debug)]
pub struct TrainParams {
    ptr: NonNull<sys::ef_train_params>,
}

// Plain data owned by this value; ef_trainer_create() copies what it needs.
unsafe impl Send for TrainParams {}

impl TrainParams {
    /// Settings with the library's defaults.
    pub fn new() -> Result<Self> {
        let mut out = ptr::null_mut();
        check(unsafe { sys::ef_train_params_create(&mut out) })?;
        NonNull::new(out)
            .map(|ptr| TrainParams { ptr })
            .ok_or_else(|| Error::new(sys::EF_ERR_INTERNAL, "ef_train_params_create returned no settings"))
    }

    pub fn as_ptr(&self) -> *mut sys::ef_train_params {
        self.ptr.as_ptr()
    }

    /// An integer setting ("dim", "layers", "seq", "batch", "steps", "seed", ...).
    pub fn set_int(&mut self, key: &str, value: i64) -> Result<&mut Self> {
        let k = c_string(key, "setting name")?;
        check(unsafe { sys::ef_train_params_set_int(self.as_ptr(), k.as_ptr(), value) })?;
        Ok(self)
    }

    /// A real setting ("lr", "weight_decay", "clip", ...).
    pub fn set_float(&mut self, key: &str, value: f64) -> Result<&mut Self> {
        let k = c_string(key, "setting name")?;
        check(unsafe { sys::ef_train_params_set_float(self.as_ptr(), k.as_ptr(), value) })?;
        Ok(self)
    }

    /// A string setting ("data", "text", "vocab", "init"); the value is copied.
    pub fn set_str(&mut self, key: &str, value: &str) -> Result<&mut Self> {
        let k = c_string(key, "setting name")?;
        let v = c_string(value, "setting value")?;
        check(unsafe { sys::ef_train_params_set_str(self.as_ptr(), k.as_ptr(), v.as_ptr()) })?;
        Ok(self)
    }
}

impl Drop for TrainParams {
    fn drop(&mut self) {
        unsafe { sys::ef_train_params_free(self.ptr.as_ptr()) }
    }
}

/// A model being trained: parameters, AdamW state, data and position.
/// Send (it can move to another thread) but not Sync: steps mutate it.
#[derive(Debug)]
pub struct Trainer {
    ptr: NonNull<sys::ef_trainer>,
}

// The trainer owns all its state and has no thread affinity.
unsafe impl Send for Trainer {}

impl Trainer {
    /// Loads and tokenizes the data and initialises the model.
    pub fn new(params: &TrainParams) -> Result<Self> {
        let mut out = ptr::null_mut();
        check(unsafe { sys::ef_trainer_create(params.as_ptr(), &mut out) })?;
        NonNull::new(out)
            .map(|ptr| Trainer { ptr })
            .ok_or_else(|| Error::new(sys::EF_ERR_INTERNAL, "ef_trainer_create returned no trainer"))
    }

    pub fn as_ptr(&self) -> *mut sys::ef_trainer {
        self.ptr.as_ptr()
    }

    /// One optimizer step; returns its mean training loss.
    pub fn step(&mut self) -> Result<f32> {
        let mut loss = 0f32;
        check(unsafe { sys::ef_trainer_step(self.as_ptr(), &mut loss) })?;
        Ok(loss)
    }

    /// Mean loss over the fixed validation windows (perplexity = exp of it).
    pub fn evaluate(&mut self) -> Result<f32> {
        let mut loss = 0f32;
        check(unsafe { sys::ef_trainer_evaluate(self.as_ptr(), &mut loss) })?;
        Ok(loss)
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> i64 {
        unsafe { sys::ef_trainer_step_count(self.as_ptr()) }
    }

    /// Learning rate the next step will use.
    pub fn lr(&self) -> f32 {
        unsafe { sys::ef_trainer_lr(self.as_ptr()) }
    }

    /// Number of trainable parameters.
    pub fn n_params(&self) -> u64 {
        unsafe { sys::ef_trainer_n_params(self.as_ptr()) }
    }

    /// Tokens one step consumes (batch × seq × accum).
    pub fn tokens_per_step(&self) -> i64 {
        unsafe { sys::ef_trainer_tokens_per_step(self.as_ptr()) }
    }

    /// Writes a checkpoint (parameters, AdamW moments, data position).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref())?;
        check(unsafe { sys::ef_trainer_save(self.as_ptr(), p.as_ptr()) })
    }

    /// Restores a checkpoint of a trainer of the same shape; on error the
    /// trainer is unchanged.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref())?;
        check(unsafe { sys::ef_trainer_load(self.as_ptr(), p.as_ptr()) })
    }

    /// Writes the model as an F32 GGUF that `Model::load` reads.
    pub fn export(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path_cstring(path.as_ref())?;
        check(unsafe { sys::ef_trainer_export(self.as_ptr(), p.as_ptr()) })
    }
}

impl Drop for Trainer {
    fn drop(&mut self) {
        unsafe { sys::ef_trainer_free(self.ptr.as_ptr()) }
    }
}

/// Trains a GPT-2-style byte-level BPE tokenizer of exactly `vocab_size`
/// tokens on `data` (the trainer's "data" spellings: a text file, a folder,
/// `brown:DIR`, `wikitext:DIR`) and writes it to `out_path` as a
/// vocabulary-only GGUF, for the "vocab" setting `gguf:PATH`. Deterministic.
pub fn train_tokenizer(data: &str, vocab_size: i32, out_path: impl AsRef<Path>) -> Result<()> {
    let d = c_string(data, "training data")?;
    let p = path_cstring(out_path.as_ref())?;
    check(unsafe { sys::ef_tokenizer_train(d.as_ptr(), vocab_size, p.as_ptr()) })
}
