"""Trainer: training or fine-tuning a small model on the CPU.

    with edgeformer.Trainer(text="the cat sat. " * 50, vocab="synthetic:300",
                            dim=32, layers=1, heads=2, kv_heads=1, ff=64,
                            seq=16, batch=2, steps=100) as t:
        for _ in range(100):
            loss = t.step()
        t.export("tiny.gguf")

Settings are keyword arguments named as in ef_train_params_set_int/
_set_float/_set_str; the value's type picks the setter (int and bool: int,
float: float, str and paths: str).
"""
from __future__ import annotations

import ctypes
import os
from typing import Optional, Union

from . import _lib
from .errors import StateError, check
from ._handle import NativeHandle

PathLike = Union[str, "os.PathLike[str]"]
ParamValue = Union[bool, int, float, str, "os.PathLike[str]"]


def _set_param(handle: int, key: str, value: ParamValue) -> None:
    """Applies one setting with the setter matching the value's type."""
    L = _lib.lib()
    name = key.encode()
    # bool is an int subclass: it goes to set_int as 0/1 ("tied")
    if isinstance(value, (bool, int)):
        check(L.ef_train_params_set_int(handle, name, int(value)))
    elif isinstance(value, float):
        check(L.ef_train_params_set_float(handle, name, value))
    elif isinstance(value, (str, os.PathLike)):
        check(L.ef_train_params_set_str(handle, name, os.fsencode(value)))
    else:
        raise TypeError(f"training setting {key!r}: expected int, float or str, got {type(value).__name__}")


class Trainer(NativeHandle):
    """A model being trained: parameters, AdamW state, data and position.

    Context manager; close() frees it. Not for concurrent use from several
    threads (the library parallelises each step itself: see "threads").
    """

    def __init__(self, **params: ParamValue) -> None:
        """Builds a trainer from settings given as keywords, e.g.
        Trainer(text="...", vocab="synthetic:300", dim=32, lr=1e-3)."""
        self._handle: Optional[int] = None
        L = _lib.lib()
        native = ctypes.c_void_p()
        check(L.ef_train_params_create(ctypes.byref(native)))
        try:
            for key, value in params.items():
                _set_param(native.value, key, value)
            out = ctypes.c_void_p()
            check(L.ef_trainer_create(native, ctypes.byref(out)))
            self._handle = out.value
        finally:
            L.ef_train_params_free(native)

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise StateError(13, "the trainer is closed", "EF_ERR_STATE")
        return self._handle

    # -- training ---------------------------------------------------------
    def step(self) -> float:
        """One optimizer step; returns its mean training loss."""
        loss = ctypes.c_float()
        check(_lib.lib().ef_trainer_step(self.handle, ctypes.byref(loss)))
        return float(loss.value)

    def evaluate(self) -> float:
        """Mean loss over the fixed validation windows (perplexity = exp of it)."""
        loss = ctypes.c_float()
        check(_lib.lib().ef_trainer_evaluate(self.handle, ctypes.byref(loss)))
        return float(loss.value)

    # -- state ------------------------------------------------------------
    @property
    def step_count(self) -> int:
        """Steps taken so far."""
        return int(_lib.lib().ef_trainer_step_count(self.handle))

    @property
    def lr(self) -> float:
        """Learning rate the next step will use."""
        return float(_lib.lib().ef_trainer_lr(self.handle))

    @property
    def n_params(self) -> int:
        """Number of trainable parameters."""
        return int(_lib.lib().ef_trainer_n_params(self.handle))

    @property
    def tokens_per_step(self) -> int:
        """Tokens one step consumes (batch x seq x accum)."""
        return int(_lib.lib().ef_trainer_tokens_per_step(self.handle))

    # -- files ------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Writes a checkpoint (parameters, AdamW moments, data position)."""
        check(_lib.lib().ef_trainer_save(self.handle, os.fsencode(path)))

    def load(self, path: PathLike) -> None:
        """Restores a checkpoint of a trainer of the same shape; on error
        (IOError_, FormatError, CorruptError, MismatchError) nothing changes."""
        check(_lib.lib().ef_trainer_load(self.handle, os.fsencode(path)))

    def export(self, path: PathLike) -> None:
        """Writes the model as an F32 GGUF that Model() loads."""
        check(_lib.lib().ef_trainer_export(self.handle, os.fsencode(path)))

    # -- lifetime ---------------------------------------------------------
    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            _lib.lib().ef_trainer_free(handle)


def train_tokenizer(data: PathLike, vocab_size: int, out_path: PathLike) -> None:
    """Trains a GPT-2-style byte-level BPE tokenizer of exactly vocab_size
    tokens on data (the trainer's "data" spellings: a text file, a folder,
    brown:DIR, wikitext:DIR) and writes it to out_path as a vocabulary-only
    GGUF, for Trainer(vocab="gguf:" + out_path). Deterministic."""
    check(_lib.lib().ef_tokenizer_train(os.fsencode(data), int(vocab_size), os.fsencode(out_path)))
