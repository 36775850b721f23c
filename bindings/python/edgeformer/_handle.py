"""Lifetime plumbing shared by the wrappers of native handles."""
from __future__ import annotations

from typing import Any, Optional, TypeVar

_T = TypeVar("_T", bound="NativeHandle")


class NativeHandle:
    """A wrapper owning one native handle in ``self._handle`` (None once
    closed). Subclasses define ``close()``, which must be idempotent; this
    class makes them context managers and closes them when collected."""

    _handle: Optional[Any] = None

    def close(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass
