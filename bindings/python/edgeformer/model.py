"""Model: a loaded GGUF file (immutable; share it between threads)."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import TYPE_CHECKING, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from . import _lib
from .errors import EdgeFormerError, StateError, check
from ._handle import NativeHandle

if TYPE_CHECKING:
    from .quant import QuantProfile
    from .sampler import SamplerParams
    from .session import Session

_BUFFER_TOO_SMALL = 10


class TensorInfo(NamedTuple):
    name: str
    type_id: int
    type_name: str
    shape: Tuple[int, ...]  # ne[0..n_dims), ne[0] the contiguous dimension


def _two_call_str(fn, *args) -> str:
    """Runs a two-call-pattern string getter (NUL-terminated result)."""
    needed = ctypes.c_size_t(0)
    st = fn(*args, None, 0, ctypes.byref(needed))
    if st not in (0, _BUFFER_TOO_SMALL):
        check(st)
    buf = ctypes.create_string_buffer(max(needed.value, 1))
    check(fn(*args, buf, len(buf), ctypes.byref(needed)))
    return buf.value.decode("utf-8", "replace")


class Model(NativeHandle):
    """A model loaded from a GGUF file.

    Use it as a context manager or call close(); sessions created from it keep
    the native model alive until they are closed too.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], *, threads: int = 0,
                 mmap: bool = True, backend: Optional[str] = None,
                 quant_profile: Optional["QuantProfile"] = None) -> None:
        """Loads path. quant_profile quantizes the weights in memory while loading."""
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        L = _lib.lib()
        params = ctypes.c_void_p()
        check(L.ef_model_params_create(ctypes.byref(params)))
        try:
            check(L.ef_model_params_set_threads(params, int(threads)))
            check(L.ef_model_params_set_mmap(params, 1 if mmap else 0))
            if backend is not None:
                check(L.ef_model_params_set_backend(params, backend.encode()))
            if quant_profile is not None:
                check(L.ef_model_params_set_quant_profile(params, quant_profile.handle))
            out = ctypes.c_void_p()
            check(L.ef_model_load(os.fsencode(path), params, ctypes.byref(out)))
            self._handle = out.value
        finally:
            L.ef_model_params_free(params)

    # -- lifetime ---------------------------------------------------------
    def close(self) -> None:
        """Releases this reference; open sessions keep the native model alive."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle:
            _lib.lib().ef_model_free(handle)

    @property
    def handle(self) -> int:
        """The native ef_model* (raises StateError once closed)."""
        if self._handle is None:
            raise StateError(13, "the model is closed", "EF_ERR_STATE")
        return self._handle

    # -- properties -------------------------------------------------------
    @property
    def arch(self) -> str:
        return _lib.lib().ef_model_arch(self.handle).decode()

    @property
    def n_params(self) -> int:
        return int(_lib.lib().ef_model_n_params(self.handle))

    @property
    def size_bytes(self) -> int:
        return int(_lib.lib().ef_model_size_bytes(self.handle))

    @property
    def n_ctx_train(self) -> int:
        return int(_lib.lib().ef_model_n_ctx_train(self.handle))

    @property
    def n_vocab(self) -> int:
        return int(_lib.lib().ef_model_n_vocab(self.handle))

    @property
    def n_embd(self) -> int:
        return int(_lib.lib().ef_model_n_embd(self.handle))

    @property
    def n_layer(self) -> int:
        return int(_lib.lib().ef_model_n_layer(self.handle))

    # -- metadata and tensors ---------------------------------------------
    def meta_keys(self) -> List[str]:
        L = _lib.lib()
        n = L.ef_model_meta_count(self.handle)
        return [_two_call_str(L.ef_model_meta_key, self.handle, i) for i in range(n)]

    def meta_get(self, key: str) -> str:
        """The value of a metadata key rendered as text; NotFoundError if absent."""
        return _two_call_str(_lib.lib().ef_model_meta_get, self.handle, key.encode())

    @property
    def metadata(self) -> Dict[str, str]:
        return {k: self.meta_get(k) for k in self.meta_keys()}

    def tensors(self) -> List[TensorInfo]:
        L = _lib.lib()
        out: List[TensorInfo] = []
        for i in range(L.ef_model_tensor_count(self.handle)):
            name = ctypes.c_char_p()
            ttype = ctypes.c_uint32()
            n_dims = ctypes.c_int32()
            ne = _lib.c_i64_4()
            check(L.ef_model_tensor_info(self.handle, i, ctypes.byref(name), ctypes.byref(ttype),
                                         ctypes.byref(n_dims), ne))
            out.append(TensorInfo((name.value or b"").decode("utf-8", "replace"), ttype.value,
                                  tensor_type_name(ttype.value), tuple(ne[: n_dims.value])))
        return out

    # -- tokens -----------------------------------------------------------
    def tokenize(self, text: Union[str, bytes], *, add_special: bool = True,
                 parse_special: bool = False) -> List[int]:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        flags = (_lib.TOKENIZE_ADD_SPECIAL if add_special else 0) | \
                (_lib.TOKENIZE_PARSE_SPECIAL if parse_special else 0)
        L = _lib.lib()
        needed = ctypes.c_size_t(0)
        st = L.ef_tokenize(self.handle, data, len(data), flags, None, 0, ctypes.byref(needed))
        if st not in (0, _BUFFER_TOO_SMALL):
            check(st)
        buf = (ctypes.c_int32 * max(needed.value, 1))()
        check(L.ef_tokenize(self.handle, data, len(data), flags, buf, len(buf), ctypes.byref(needed)))
        return list(buf[: needed.value])

    def detokenize_bytes(self, tokens: Iterable[int], *, render_special: bool = False) -> bytes:
        ids = list(tokens)
        arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
        flags = _lib.DETOKENIZE_RENDER_SPECIAL if render_special else 0
        L = _lib.lib()
        needed = ctypes.c_size_t(0)
        st = L.ef_detokenize(self.handle, arr, len(ids), flags, None, 0, ctypes.byref(needed))
        if st not in (0, _BUFFER_TOO_SMALL):
            check(st)
        buf = ctypes.create_string_buffer(max(needed.value, 1))
        check(L.ef_detokenize(self.handle, arr, len(ids), flags, buf, len(buf), ctypes.byref(needed)))
        return buf.raw[: needed.value]

    def detokenize(self, tokens: Iterable[int], *, render_special: bool = False) -> str:
        """Text of the tokens; bytes that are not valid UTF-8 become U+FFFD."""
        return self.detokenize_bytes(tokens, render_special=render_special).decode("utf-8", "replace")

    def token_text(self, token: int) -> Optional[str]:
        """The vocabulary piece of a token (None when out of range)."""
        raw = _lib.lib().ef_token_text(self.handle, token)
        return None if raw is None else raw.decode("utf-8", "replace")

    @property
    def bos(self) -> int:
        return int(_lib.lib().ef_token_bos(self.handle))

    @property
    def eos(self) -> int:
        return int(_lib.lib().ef_token_eos(self.handle))

    def is_eog(self, token: int) -> bool:
        return bool(_lib.lib().ef_token_is_eog(self.handle, token))

    # -- chat -------------------------------------------------------------
    @property
    def chat_template_family(self) -> str:
        """The chat format this model uses: "llama2", "llama3" or "chatml"."""
        from .chat import chat_template_family
        return chat_template_family(self.handle)

    def apply_chat_template(self, messages, add_generation_prompt: bool = True) -> str:
        """Renders (role, content) pairs or {"role", "content"} dicts in the model's
        chat format; tokenize the result with parse_special=True."""
        from .chat import apply_model_chat_template
        return apply_model_chat_template(self.handle, messages, add_generation_prompt)

    # -- sessions ---------------------------------------------------------
    def sparsity(self) -> Dict[str, object]:
        """What the model offers for sparse decoding: {"thresholds": bool,
        "masked": bool, "relu": bool, "default_level": float}."""
        level = ctypes.c_float()
        flags = int(_lib.lib().ef_model_sparsity(self.handle, ctypes.byref(level)))
        return {"thresholds": bool(flags & _lib.SPARSITY_THRESHOLDS), "masked": bool(flags & _lib.SPARSITY_MASKED),
                "relu": bool(flags & _lib.SPARSITY_RELU), "default_level": float(level.value)}

    def calibrate_sparsity(self, text: Union[str, bytes], target: float, out_path: str) -> None:
        """Writes a copy of the model file with activation-sparsity thresholds
        calibrated on text (default level = target)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        check(_lib.lib().ef_sparsity_calibrate(self.handle, data, len(data), float(target), out_path.encode()))

    def session(self, **kwargs) -> "Session":
        """A new Session on this model; keyword arguments as Session()."""
        from .session import Session
        return Session(self, **kwargs)


def tensor_type_name(type_id: int) -> str:
    return _lib.lib().ef_tensor_type_name(type_id).decode()


__all__ = ["Model", "TensorInfo", "tensor_type_name", "EdgeFormerError"]
