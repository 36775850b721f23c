"""SamplerParams: the settings of the sampling chain (see ef_sampler_params_create)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

from . import _lib
from .errors import check


@dataclass
class SamplerParams:
    """Sampling settings; the defaults are the library's. temperature=0 is greedy."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    seed: int = 0

    @classmethod
    def greedy(cls) -> "SamplerParams":
        return cls(temperature=0.0)

    def _native(self) -> ctypes.c_void_p:
        """A new ef_sampler_params* (the caller frees it); values are validated by the library."""
        L = _lib.lib()
        p = ctypes.c_void_p()
        check(L.ef_sampler_params_create(ctypes.byref(p)))
        try:
            check(L.ef_sampler_params_set_temperature(p, float(self.temperature)))
            check(L.ef_sampler_params_set_top_k(p, int(self.top_k)))
            check(L.ef_sampler_params_set_top_p(p, float(self.top_p)))
            check(L.ef_sampler_params_set_min_p(p, float(self.min_p)))
            check(L.ef_sampler_params_set_repeat_penalty(p, float(self.repeat_penalty), int(self.repeat_last_n)))
            check(L.ef_sampler_params_set_seed(p, int(self.seed) & 0xFFFFFFFFFFFFFFFF))
        except BaseException:
            L.ef_sampler_params_free(p)
            raise
        return p
