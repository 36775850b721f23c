"""Chat templates: render (role, content) messages as a model's prompt text."""
from __future__ import annotations

import ctypes
from typing import Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from .errors import check

# a message is (role, content) or {"role": ..., "content": ...}
Message = Union[Tuple[str, str], Mapping[str, str]]
_BUFFER_TOO_SMALL = 10


def _arrays(messages: Sequence[Message]):
    roles, contents = [], []
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, Mapping) else m
        roles.append(role.encode("utf-8"))
        contents.append(content.encode("utf-8"))
    n = len(roles)
    return n, (ctypes.c_char_p * max(n, 1))(*roles), (ctypes.c_char_p * max(n, 1))(*contents)


def _render(fn, first, messages: Sequence[Message], add_generation_prompt: bool) -> str:
    n, roles, contents = _arrays(messages)
    gen = 1 if add_generation_prompt else 0
    needed = ctypes.c_size_t(0)
    st = fn(first, roles, contents, n, gen, None, 0, ctypes.byref(needed))
    if st not in (0, _BUFFER_TOO_SMALL):
        check(st)
    buf = ctypes.create_string_buffer(max(needed.value, 1))
    check(fn(first, roles, contents, n, gen, buf, len(buf), ctypes.byref(needed)))
    return buf.raw[: max(needed.value - 1, 0)].decode("utf-8", "replace")


def apply_chat_template(template_name: str, messages: Sequence[Message],
                        add_generation_prompt: bool = True) -> str:
    """Renders messages in a named format: "llama2", "llama3" or "chatml".
    Tokenize the result with parse_special=True."""
    return _render(_lib.lib().ef_chat_apply_template_named, template_name.encode(), messages,
                   add_generation_prompt)


def apply_model_chat_template(model_handle: Optional[int], messages: Sequence[Message],
                              add_generation_prompt: bool = True) -> str:
    return _render(_lib.lib().ef_chat_apply_template, model_handle, messages, add_generation_prompt)


def chat_template_family(model_handle: Optional[int]) -> str:
    return _lib.lib().ef_chat_template_family(model_handle).decode()
