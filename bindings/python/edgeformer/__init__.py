"""EdgeFormer: Python bindings (ctypes) for libedgeformer.

    import edgeformer
    with edgeformer.Model("model.gguf") as model, model.session() as s:
        s.set_sampler(temperature=0)
        for text in s.generate("Once upon a time", max_tokens=32):
            print(text, end="", flush=True)

The shared library is found through EDGEFORMER_LIBRARY, next to this
package, or on the system search path.
"""
from __future__ import annotations

from typing import Callable, Optional

from . import _lib
from ._lib import (DETOKENIZE_RENDER_SPECIAL, EVAL_ALL_LOGITS, LOG_DEBUG, LOG_ERROR, LOG_INFO,
                   LOG_WARN, TOKENIZE_ADD_SPECIAL, TOKENIZE_PARSE_SPECIAL)
from .chat import apply_chat_template
from .convert import convert_hf
from .errors import (BackendError, BudgetError, BufferTooSmallError, CancelledError,
                     ContextFullError, CorruptError, EdgeFormerError, FormatError, InternalError,
                     InvalidArgumentError, IOError_, MismatchError, NoMemoryError, NotFoundError,
                     StateError, UnavailableError, UnsupportedError, check, status_name)
from .backends import BackendInfo, backends
from .kv import KVCache, KVParams, TierStats
from .model import Model, TensorInfo, tensor_type_name
from .perplexity import PerplexityResult, perplexity
from .quant import ProgressCallback, QuantProfile, quantize_file
from .sampler import SamplerParams
from .session import Session, Stats, TokenCallback
from .trainer import Trainer, train_tokenizer

EdgeFormerIOError = IOError_

__version__ = "0.1.0"


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.lib().ef_version_string().decode()


def version_number() -> int:
    """MAJOR*1000000 + MINOR*1000 + PATCH of the loaded library."""
    return int(_lib.lib().ef_version_number())


def last_error() -> str:
    """This thread's last error message from the library."""
    return _lib.lib().ef_last_error().decode("utf-8", "replace")


# The installed callbacks must outlive the library's use of them.
_log_callback_ref: Optional[object] = None
_allocator_refs: Optional[tuple] = None


def set_log_callback(fn: Optional[Callable[[int, str], None]], max_level: int = LOG_WARN) -> None:
    """Routes the library's diagnostics to fn(level, message); None discards them.
    fn may run on worker threads. Call before creating models."""
    global _log_callback_ref
    if fn is None:
        _lib.lib().ef_set_log_callback(_lib.LOG_FN(), None, int(max_level))
        _log_callback_ref = None
        return

    def trampoline(_user, level, message):
        try:
            fn(int(level), (message or b"").decode("utf-8", "replace"))
        except Exception:  # never let an exception cross into C
            pass

    ref = _lib.LOG_FN(trampoline)
    _lib.lib().ef_set_log_callback(ref, None, int(max_level))
    _log_callback_ref = ref


def set_allocator(malloc_fn: Optional[Callable[[int], int]] = None,
                  realloc_fn: Optional[Callable[[int, int], int]] = None,
                  free_fn: Optional[Callable[[int], None]] = None) -> None:
    """Replaces the library's allocator with Python callables working on
    addresses (ints; 0 = NULL): malloc_fn(size), realloc_fn(ptr, size),
    free_fn(ptr). All three, or none to restore the C library's. Only while no
    model or session exists. Meant for tests (counting, failure injection)."""
    global _allocator_refs
    given = [f is not None for f in (malloc_fn, realloc_fn, free_fn)]
    L = _lib.lib()
    if not any(given):
        check(L.ef_set_allocator(_lib.MALLOC_FN(), _lib.REALLOC_FN(), _lib.FREE_FN(), None))
        _allocator_refs = None
        return
    if not all(given):
        # let the library produce its own EF_ERR_INVALID_ARG and message
        check(L.ef_set_allocator(_lib.MALLOC_FN(lambda _u, size: malloc_fn(size)) if malloc_fn else _lib.MALLOC_FN(),
                                 _lib.REALLOC_FN(), _lib.FREE_FN(), None))
        return
    refs = (_lib.MALLOC_FN(lambda _u, size: malloc_fn(size) or None),
            _lib.REALLOC_FN(lambda _u, ptr, size: realloc_fn(ptr or 0, size) or None),
            _lib.FREE_FN(lambda _u, ptr: free_fn(ptr or 0)))
    check(L.ef_set_allocator(refs[0], refs[1], refs[2], None))
    _allocator_refs = refs


__all__ = [
    "Model", "Session", "SamplerParams", "QuantProfile", "quantize_file", "convert_hf", "apply_chat_template", "ProgressCallback", "Stats", "TensorInfo", "TokenCallback",
    "Trainer", "train_tokenizer", "KVCache", "KVParams", "TierStats", "BackendInfo", "backends", "PerplexityResult", "perplexity",
    "version", "version_number", "last_error", "set_log_callback", "set_allocator",
    "tensor_type_name", "status_name", "check",
    "EdgeFormerError", "InvalidArgumentError", "NoMemoryError", "IOError_", "EdgeFormerIOError",
    "FormatError", "UnsupportedError", "BudgetError", "ContextFullError", "CancelledError",
    "NotFoundError", "BufferTooSmallError", "BackendError", "UnavailableError", "StateError",
    "MismatchError", "CorruptError", "InternalError",
    "TOKENIZE_ADD_SPECIAL", "TOKENIZE_PARSE_SPECIAL", "DETOKENIZE_RENDER_SPECIAL",
    "EVAL_ALL_LOGITS", "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG",
]
