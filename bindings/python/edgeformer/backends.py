"""The compute backends this process can use (ef_backend_* in edgeformer.h)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import List

from . import _lib
from .errors import check


@dataclass
class BackendInfo:
    """One entry of the backend list; reason says why it is unavailable."""

    name: str
    available: bool
    device: str
    memory: int
    score: int
    reason: str
    path: str


def backends() -> List[BackendInfo]:
    """Every backend found (the built-in cpu first), available or not."""
    L = _lib.lib()
    out: List[BackendInfo] = []
    for i in range(int(L.ef_backend_count())):
        b = ctypes.c_void_p()
        check(L.ef_backend_get(i, ctypes.byref(b)))
        text = lambda fn: (fn(b) or b"").decode("utf-8", "replace")  # noqa: E731
        out.append(BackendInfo(text(L.ef_backend_name), bool(L.ef_backend_available(b)),
                               text(L.ef_backend_device), int(L.ef_backend_memory(b)),
                               int(L.ef_backend_score(b)), text(L.ef_backend_unavailable_reason),
                               text(L.ef_backend_path)))
    return out


__all__ = ["BackendInfo", "backends"]
