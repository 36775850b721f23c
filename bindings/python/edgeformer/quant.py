"""QuantProfile and quantize_file: choosing weight types, converting files."""
from __future__ import annotations

import ctypes
import os
from typing import Callable, List, Optional, Tuple, Union

from . import _lib
from .errors import StateError, check
from ._handle import NativeHandle

# progress(item, done, total) -> truthy to cancel
ProgressCallback = Callable[[str, int, int], Optional[bool]]


def progress_callback(progress: Optional[ProgressCallback], raised: List[BaseException]):
    """A PROGRESS_FN calling progress(item, done, total); an exception it raises
    is appended to `raised` and cancels the operation."""
    if progress is None:
        return _lib.PROGRESS_FN()

    def trampoline(_user, item, done, total):
        if raised:
            return 1
        try:
            return 1 if progress((item or b"").decode("utf-8", "replace"), int(done), int(total)) else 0
        except BaseException as exc:  # ctypes would only print it
            raised.append(exc)
            return 1

    return _lib.PROGRESS_FN(trampoline)


class QuantProfile(NativeHandle):
    """A quantization profile ("balanced", "fast", "experimental", "ternary",
    "f16", "f32"), refined with rules. Context manager; close() frees it."""

    def __init__(self, name: str = "balanced") -> None:
        self._handle: Optional[int] = None
        out = ctypes.c_void_p()
        check(_lib.lib().ef_quant_profile_create(name.encode(), ctypes.byref(out)))
        self._handle = out.value

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise StateError(13, "the quantization profile is closed", "EF_ERR_STATE")
        return self._handle

    @property
    def name(self) -> str:
        return _lib.lib().ef_quant_profile_name(self.handle).decode()

    def set_default_type(self, type_name: str) -> "QuantProfile":
        check(_lib.lib().ef_quant_profile_set_default_type(self.handle, type_name.encode()))
        return self

    def add_rule(self, pattern: str, type_name: str) -> "QuantProfile":
        check(_lib.lib().ef_quant_profile_add_rule(self.handle, pattern.encode(), type_name.encode()))
        return self

    def keep_embeddings(self, type_name: str) -> "QuantProfile":
        check(_lib.lib().ef_quant_profile_keep_embeddings(self.handle, type_name.encode()))
        return self

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            _lib.lib().ef_quant_profile_free(handle)


def quantize_file(in_path: Union[str, "os.PathLike[str]"], out_path: Union[str, "os.PathLike[str]"],
                  profile: Union[QuantProfile, str] = "balanced",
                  progress: Optional[ProgressCallback] = None) -> Tuple[int, int]:
    """Writes a quantized copy of a GGUF file; returns (bytes_in, bytes_out) of
    tensor data. progress(item, done, total) may return truthy to cancel
    (CancelledError). An exception raised by progress cancels and is re-raised."""
    own = isinstance(profile, str)
    prof = QuantProfile(profile) if own else profile
    raised: List[BaseException] = []
    cb = progress_callback(progress, raised)
    bytes_in, bytes_out = ctypes.c_uint64(), ctypes.c_uint64()
    try:
        st = _lib.lib().ef_quantize_file(os.fsencode(in_path), os.fsencode(out_path), prof.handle, cb, None,
                                         ctypes.byref(bytes_in), ctypes.byref(bytes_out))
        if raised:
            raise raised[0]
        check(st)
    finally:
        if own:
            prof.close()
    return bytes_in.value, bytes_out.value
