"""KV caches: options (KVParams), shared caches (KVCache), sequence operations
and tier statistics (ef_kv_* in edgeformer.h).

A session makes its own cache from its kv_params; create a KVCache yourself
to share one cache between sessions (each on its own sequence) or to keep it
after the sessions are gone.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from . import _lib
from .errors import StateError, check, error_for
from .model import Model
from ._handle import NativeHandle


@dataclass
class KVParams:
    """Options of a KV cache (ef_kv_params). Sizes in bytes; a budget of 0 is
    unlimited. tier_budgets maps "hot" | "ram" | "zstd" to bytes."""

    page_size: int = 256
    k_type: str = "f16"
    v_type: str = "f16"
    n_ctx: int = 0
    n_seq_max: int = 1
    tier_budgets: Optional[Dict[str, int]] = None
    spill_dir: Optional[str] = None
    compression: int = 1

    def _native(self) -> int:
        """A new ef_kv_params* (the caller frees it with ef_kv_params_free)."""
        L = _lib.lib()
        p = ctypes.c_void_p()
        check(L.ef_kv_params_create(ctypes.byref(p)))
        try:
            check(L.ef_kv_params_set_page_size(p, int(self.page_size)))
            check(L.ef_kv_params_set_types(p, self.k_type.encode(), self.v_type.encode()))
            check(L.ef_kv_params_set_n_ctx(p, int(self.n_ctx)))
            check(L.ef_kv_params_set_n_seq_max(p, int(self.n_seq_max)))
            for tier, size in (self.tier_budgets or {}).items():
                if tier not in _lib.KV_TIERS:
                    raise ValueError(f"unknown KV tier {tier!r}; expected one of {sorted(_lib.KV_TIERS)}")
                check(L.ef_kv_params_set_tier_budget(p, _lib.KV_TIERS[tier], int(size)))
            if self.spill_dir is not None:
                check(L.ef_kv_params_set_spill_dir(p, self.spill_dir.encode()))
            check(L.ef_kv_params_set_compression(p, int(self.compression)))
        except BaseException:
            L.ef_kv_params_free(p)
            raise
        return p.value


@dataclass
class TierStats:
    """ef_kv_cache_stat() of one tier."""

    bytes: int
    pages: int
    raw_bytes: int
    offloads: int
    restores: int
    offload_seconds: float
    restore_seconds: float


class KVCache(NativeHandle):
    """A KV cache handle: either created here (owned; close() frees it) or
    borrowed from a session (Session.kv_cache, freed with the session)."""

    def __init__(self, model: Optional[Model] = None, params: Optional[KVParams] = None, *,
                 _borrowed: Optional[int] = None, _owner: Optional[object] = None) -> None:
        self._lock = threading.Lock()
        self._owner = _owner  # keeps a borrowing session alive
        if _borrowed is not None:
            self._handle: Optional[int] = _borrowed
            self._owned = False
            return
        if model is None:
            raise TypeError("KVCache needs a Model")
        L = _lib.lib()
        native = (params or KVParams())._native()
        try:
            out = ctypes.c_void_p()
            check(L.ef_kv_cache_create(model.handle, native, ctypes.byref(out)))
        finally:
            L.ef_kv_params_free(native)
        self._handle = out.value
        self._owned = True

    def close(self) -> None:
        """Releases this reference (sessions attached to the cache keep theirs)."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle and self._owned:
            _lib.lib().ef_kv_cache_free(handle)

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise StateError(13, "the KV cache is closed", "EF_ERR_STATE")
        return self._handle

    def _check(self, status: int) -> None:
        if status:
            msg = _lib.lib().ef_kv_cache_errmsg(self.handle).decode("utf-8", "replace")
            raise error_for(status, msg or _lib.lib().ef_last_error().decode("utf-8", "replace"))

    # -- sequences ------------------------------------------------------------
    def clear(self, seq: int = -1) -> None:
        """Drops every token of seq (-1: of all sequences)."""
        self._check(_lib.lib().ef_kv_seq_clear(self.handle, int(seq)))

    def remove(self, seq: int, p0: int, p1: int = -1) -> None:
        """Removes positions [p0, p1) (p1 = -1: to the end); later tokens move down."""
        self._check(_lib.lib().ef_kv_seq_remove(self.handle, int(seq), int(p0), int(p1)))

    def copy(self, src: int, dst: int) -> None:
        """Makes dst a copy-on-write fork of src."""
        self._check(_lib.lib().ef_kv_seq_copy(self.handle, int(src), int(dst)))

    def keep(self, seq: int) -> None:
        """Drops every sequence but seq."""
        self._check(_lib.lib().ef_kv_seq_keep(self.handle, int(seq)))

    def shift(self, seq: int, n_keep: int, n_discard: int) -> None:
        """Context shift: keeps n_keep tokens, drops the next n_discard, moves the rest down."""
        self._check(_lib.lib().ef_kv_seq_shift(self.handle, int(seq), int(n_keep), int(n_discard)))

    def pos_range(self, seq: int) -> Tuple[int, int]:
        """(lowest, highest) position of seq; (-1, -1) when it is empty."""
        lo, hi = ctypes.c_int32(), ctypes.c_int32()
        self._check(_lib.lib().ef_kv_seq_pos_range(self.handle, int(seq), ctypes.byref(lo), ctypes.byref(hi)))
        return lo.value, hi.value

    # -- statistics -------------------------------------------------------
    def stat(self, key: int, tier: int = 0) -> float:
        value = ctypes.c_double()
        self._check(_lib.lib().ef_kv_cache_stat(self.handle, int(key), int(tier), ctypes.byref(value)))
        return value.value

    def tier_stats(self, tier: str) -> TierStats:
        t = _lib.KV_TIERS[tier]
        g = self.stat
        return TierStats(int(g(_lib.KV_STAT_BYTES, t)), int(g(_lib.KV_STAT_PAGES, t)),
                         int(g(_lib.KV_STAT_RAW_BYTES, t)), int(g(_lib.KV_STAT_OFFLOADS, t)),
                         int(g(_lib.KV_STAT_RESTORES, t)), g(_lib.KV_STAT_OFFLOAD_SECONDS, t),
                         g(_lib.KV_STAT_RESTORE_SECONDS, t))

    @property
    def hit_rate(self) -> float:
        return self.stat(_lib.KV_STAT_HIT_RATE)

    @property
    def types(self) -> Tuple[str, str]:
        """(K type, V type), e.g. ("q8_0", "q8_0")."""
        L = _lib.lib()
        return (L.ef_kv_cache_type(self.handle, 0).decode(), L.ef_kv_cache_type(self.handle, 1).decode())


__all__ = ["KVParams", "KVCache", "TierStats"]
