"""Exceptions mapped from ef_status codes; each carries the library's message."""
from __future__ import annotations

from typing import Dict, Type

from . import _lib


class EdgeFormerError(Exception):
    """A libedgeformer call failed. `status` is the ef_status code, `status_name`
    its name ("EF_ERR_IO") and `message` the library's explanation."""

    status: int = -1

    def __init__(self, status: int, message: str, status_name: str = "") -> None:
        self.status = status
        self.status_name = status_name or f"status {status}"
        self.message = message
        super().__init__(f"{self.status_name}: {message}" if message else self.status_name)


class InvalidArgumentError(EdgeFormerError, ValueError):
    status = 1


class NoMemoryError(EdgeFormerError, MemoryError):
    status = 2


class IOError_(EdgeFormerError, OSError):
    """EF_ERR_IO (named with a trailing underscore so the builtin stays visible)."""
    status = 3

    def __init__(self, status: int, message: str, status_name: str = "") -> None:
        EdgeFormerError.__init__(self, status, message, status_name)

    def __str__(self) -> str:  # OSError would render its own args layout
        return EdgeFormerError.__str__(self)


class FormatError(EdgeFormerError):
    status = 4


class UnsupportedError(EdgeFormerError):
    status = 5


class BudgetError(EdgeFormerError):
    status = 6


class ContextFullError(EdgeFormerError):
    status = 7


class CancelledError(EdgeFormerError):
    status = 8


class NotFoundError(EdgeFormerError, LookupError):
    status = 9


class BufferTooSmallError(EdgeFormerError):
    status = 10


class BackendError(EdgeFormerError):
    status = 11


class UnavailableError(EdgeFormerError):
    status = 12


class StateError(EdgeFormerError):
    status = 13


class MismatchError(EdgeFormerError):
    status = 14


class CorruptError(EdgeFormerError):
    status = 15


class InternalError(EdgeFormerError):
    status = 16


_BY_STATUS: Dict[int, Type[EdgeFormerError]] = {
    cls.status: cls
    for cls in (InvalidArgumentError, NoMemoryError, IOError_, FormatError, UnsupportedError,
                BudgetError, ContextFullError, CancelledError, NotFoundError, BufferTooSmallError,
                BackendError, UnavailableError, StateError, MismatchError, CorruptError, InternalError)
}


def status_name(status: int) -> str:
    return _lib.lib().ef_status_str(status).decode()


def error_for(status: int, message: str = "") -> EdgeFormerError:
    """Builds the exception of `status`, using this thread's ef_last_error() when
    no message is given."""
    if not message:
        message = _lib.lib().ef_last_error().decode("utf-8", "replace")
    cls = _BY_STATUS.get(status, EdgeFormerError)
    return cls(status, message, status_name(status))


def check(status: int) -> None:
    """Raises the exception of a failing status (reads ef_last_error on this thread)."""
    if status != 0:
        raise error_for(status)
