"""Session: one conversation on a model (KV cache, scratch memory, sampler).

A session is used by one thread at a time; the binding enforces it with a
lock (a second concurrent call raises StateError). cancel() is the exception:
any thread may call it at any time.
"""
from __future__ import annotations

import codecs
import contextlib
import ctypes
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _lib
from .errors import CancelledError, EdgeFormerError, StateError, check, error_for
from .kv import KVCache, KVParams
from .model import Model
from .sampler import SamplerParams
from ._handle import NativeHandle

# on_token(token_id, text) -> truthy to stop. token_id is -1 for the final
# delivery of bytes that never completed a UTF-8 character.
TokenCallback = Callable[[int, str], Optional[bool]]


@dataclass
class Stats:
    """ef_session_stat() values of the last generate and the session's memory."""

    prompt_tokens: int
    prompt_seconds: float
    gen_tokens: int
    gen_seconds: float
    stop_reason: str  # none | eog | max_tokens | callback | cancelled | context_full
    memory_used: int
    memory_peak: int
    memory_budget: int
    kv_bytes_per_token: int  # bytes the KV cache grows by per token
    prefill_chunk: int       # tokens per forward call the memory budget allowed
    sparse_skipped: float = 0.0  # fraction of FFN neurons the sparse decode skipped


class Session(NativeHandle):
    """A conversation on a Model.

    Keyword arguments: n_ctx (0 = min(training context, 4096)), threads
    (0 = all cores), seed, n_batch, memory_budget (bytes, 0 = none) and
    kv_type ("f16", the default, or "f32": the KV cache's element type),
    matmul_mode ("weight-only" or "integer-dot"; None: EF_MATMUL_MODE or
    weight-only), mla_path ("auto", "absorbed" or "expanded": how MLA layers
    attend), window (tokens of sliding window; 0 = full attention, None = the
    model's), sinks (attention-sink tokens; None = the model's), sampler
    (SamplerParams; the library's defaults when omitted), kv_params (KVParams:
    pages, K/V types, tier budgets, spill directory of the session's own
    cache), kv_cache (a KVCache to share instead), seq (the sequence to start
    on), context_shift (True, or the number of tokens to keep, to go on
    generating past a full context), backend ("cpu", "onednn", "opencl",
    "auto"; None: EF_BACKEND or auto), backend_options ({"opencl.device":
    "any"}) and sparsity (fraction of FFN neurons skipped in decode; 0 = dense).
    """

    def __init__(self, model: Model, *, n_ctx: int = 0, threads: int = 0, seed: int = 0,
                 n_batch: int = 512, memory_budget: int = 0, kv_type: Optional[str] = None,
                 matmul_mode: Optional[str] = None, mla_path: str = "auto",
                 window: Optional[int] = None, sinks: Optional[int] = None,
                 sampler: Optional[SamplerParams] = None, kv_params: Optional[KVParams] = None,
                 kv_cache: Optional[KVCache] = None, seq: int = 0,
                 context_shift: Union[bool, int] = False, backend: Optional[str] = None,
                 backend_options: Optional[Dict[str, str]] = None, sparsity: float = 0.0) -> None:
        self._handle: Optional[int] = None
        self._busy = threading.Lock()      # held while a native call uses the session
        self._active_stop: Optional[threading.Event] = None  # set to stop a running generate()
        self.model = model
        # cached: the Python Model may be closed while the native one lives on here
        self._n_vocab = model.n_vocab
        L = _lib.lib()
        params = ctypes.c_void_p()
        check(L.ef_session_params_create(ctypes.byref(params)))
        try:
            check(L.ef_session_params_set_n_ctx(params, int(n_ctx)))
            check(L.ef_session_params_set_threads(params, int(threads)))
            check(L.ef_session_params_set_seed(params, int(seed) & 0xFFFFFFFFFFFFFFFF))
            check(L.ef_session_params_set_n_batch(params, int(n_batch)))
            check(L.ef_session_params_set_memory_budget(params, int(memory_budget)))
            if kv_type is not None:
                check(L.ef_session_params_set_kv_type(params, kv_type.encode()))
            if matmul_mode is not None:
                check(L.ef_session_params_set_matmul_mode(params, matmul_mode.encode()))
            if mla_path not in _lib.MLA_PATHS:
                raise ValueError(f"mla_path must be one of {sorted(_lib.MLA_PATHS)}, not {mla_path!r}")
            check(L.ef_session_params_set_mla_path(params, _lib.MLA_PATHS[mla_path]))
            check(L.ef_session_params_set_window(params, -1 if window is None else int(window)))
            check(L.ef_session_params_set_sinks(params, -1 if sinks is None else int(sinks)))
            self._configure_extras(L, params, kv_params, kv_cache, seq, context_shift, backend,
                                   backend_options, sparsity)
            out = ctypes.c_void_p()
            check(L.ef_session_create(model.handle, params, ctypes.byref(out)))
            self._handle = out.value
        finally:
            L.ef_session_params_free(params)
        if sampler is not None:
            try:
                self.set_sampler(sampler)
            except BaseException:
                self.close()
                raise

    @staticmethod
    def _configure_extras(L, params, kv_params, kv_cache, seq, context_shift, backend,
                          backend_options, sparsity) -> None:
        if kv_params is not None:
            native = kv_params._native()
            try:
                check(L.ef_session_params_set_kv_params(params, native))
            finally:
                L.ef_kv_params_free(native)
        if kv_cache is not None:
            check(L.ef_session_params_set_kv_cache(params, kv_cache.handle))
        check(L.ef_session_params_set_seq(params, int(seq)))
        if context_shift is not False:
            n_keep = -1 if context_shift is True else int(context_shift)
            check(L.ef_session_params_set_context_shift(params, 1, n_keep))
        if backend is not None:
            check(L.ef_session_params_set_backend(params, backend.encode()))
        for key, value in (backend_options or {}).items():
            check(L.ef_session_params_set_backend_option(params, str(key).encode(), str(value).encode()))
        if sparsity:
            check(L.ef_session_params_set_sparsity(params, float(sparsity)))

    # -- lifetime ---------------------------------------------------------
    def close(self) -> None:
        """Stops a running generate(), then frees the session."""
        if self._handle is None:
            return
        stop = self._active_stop
        if stop is not None:
            stop.set()
            _lib.lib().ef_session_cancel(self._handle)
        with self._busy:
            handle, self._handle = self._handle, None
        if handle:
            _lib.lib().ef_session_free(handle)

    @property
    def handle(self) -> int:
        """The native ef_session* (raises StateError once closed)."""
        if self._handle is None:
            raise StateError(13, "the session is closed", "EF_ERR_STATE")
        return self._handle

    @contextlib.contextmanager
    def _use(self) -> Iterator[int]:
        if not self._busy.acquire(blocking=False):
            raise StateError(13, "the session is in use by another call (a running generate?)",
                             "EF_ERR_STATE")
        try:
            yield self.handle
        finally:
            self._busy.release()

    # -- state ------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return int(_lib.lib().ef_session_n_ctx(self.handle))

    @property
    def n_past(self) -> int:
        return int(_lib.lib().ef_session_n_past(self.handle))

    @property
    def matmul_mode(self) -> str:
        """How quantized weights are multiplied: "weight-only" or "integer-dot"."""
        return _lib.lib().ef_session_matmul_mode(self.handle).decode("ascii", "replace")

    @property
    def errmsg(self) -> str:
        """Message of the session's last failed call ("" if none)."""
        return _lib.lib().ef_session_errmsg(self.handle).decode("utf-8", "replace")

    def reset(self) -> None:
        with self._use() as h:
            check(_lib.lib().ef_session_reset(h))

    @property
    def seq(self) -> int:
        """The sequence eval/generate work on."""
        return int(_lib.lib().ef_session_seq(self.handle))

    def set_seq(self, seq: int) -> None:
        """Switches to sequence seq of the session's KV cache (a new id starts empty)."""
        with self._use() as h:
            check(_lib.lib().ef_session_set_seq(h, int(seq)))

    @property
    def kv_cache(self) -> KVCache:
        """The session's KV cache (borrowed: valid while the session lives)."""
        return KVCache(_borrowed=_lib.lib().ef_session_kv_cache(self.handle), _owner=self)

    @property
    def backend(self) -> str:
        """Name of the backend the session runs on."""
        return _lib.lib().ef_session_backend(self.handle).decode("ascii", "replace")

    # -- snapshots --------------------------------------------------------
    def save(self, path: str, seq: int = _lib.SEQ_ALL) -> None:
        """Writes a snapshot of seq (or of every sequence) to path (temp file + rename)."""
        with self._use() as h:
            check(_lib.lib().ef_session_save(h, int(seq), path.encode()))

    def save_bytes(self, seq: int = _lib.SEQ_ALL) -> bytes:
        """A snapshot of seq (or of every sequence) as bytes."""
        L = _lib.lib()
        need = ctypes.c_size_t()
        with self._use() as h:
            st = L.ef_session_save_buffer(h, int(seq), None, 0, ctypes.byref(need))
            if st and st != 10:  # EF_ERR_BUFFER_TOO_SMALL is the expected answer
                check(st)
            buf = ctypes.create_string_buffer(max(need.value, 1))
            check(L.ef_session_save_buffer(h, int(seq), buf, need.value, ctypes.byref(need)))
            return buf.raw[: need.value]

    def restore(self, path: str, seq: int = _lib.SEQ_ALL) -> None:
        """Restores a snapshot file; on error the session is unchanged."""
        with self._use() as h:
            check(_lib.lib().ef_session_restore(h, int(seq), path.encode()))

    def restore_bytes(self, data: bytes, seq: int = _lib.SEQ_ALL) -> None:
        """Restores a snapshot from bytes; on error the session is unchanged."""
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        with self._use() as h:
            check(_lib.lib().ef_session_restore_buffer(h, int(seq), buf, len(data)))

    def stat(self, key: int) -> float:
        value = ctypes.c_double()
        check(_lib.lib().ef_session_stat(self.handle, key, ctypes.byref(value)))
        return value.value

    def stats(self) -> Stats:
        g = self.stat
        return Stats(int(g(_lib.STAT_PROMPT_TOKENS)), g(_lib.STAT_PROMPT_SECONDS),
                     int(g(_lib.STAT_GEN_TOKENS)), g(_lib.STAT_GEN_SECONDS),
                     _lib.STOP_REASONS.get(int(g(_lib.STAT_STOP_REASON)), "unknown"),
                     int(g(_lib.STAT_MEMORY_USED)), int(g(_lib.STAT_MEMORY_PEAK)),
                     int(g(_lib.STAT_MEMORY_BUDGET)), int(g(_lib.STAT_KV_BYTES_PER_TOKEN)),
                     int(g(_lib.STAT_PREFILL_CHUNK)), g(_lib.STAT_SPARSE_SKIPPED))

    def cancel(self) -> None:
        """Asks a running eval/generate to stop; safe from any thread."""
        h = self._handle
        if h:
            _lib.lib().ef_session_cancel(h)

    # -- step by step -----------------------------------------------------
    def eval(self, tokens: Sequence[int], *, all_logits: bool = False) -> None:
        """Appends tokens to the context and runs the model over them."""
        ids = list(tokens)
        arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
        with self._use() as h:
            check(_lib.lib().ef_session_eval(h, arr, len(ids), _lib.EVAL_ALL_LOGITS if all_logits else 0))

    def logits(self, index: int = -1) -> List[float]:
        """A copy of the logits of row `index` of the last eval (-1: its last token)."""
        ptr = ctypes.POINTER(ctypes.c_float)()
        with self._use() as h:
            check(_lib.lib().ef_session_logits(h, index, ctypes.byref(ptr)))
            return ptr[: self._n_vocab]

    def set_sampler(self, params: Optional[SamplerParams] = None, **kwargs) -> None:
        """Replaces the sampler (SamplerParams, or its fields as keywords)."""
        if params is None:
            params = SamplerParams(**kwargs)
        elif kwargs:
            raise TypeError("give a SamplerParams or keyword arguments, not both")
        L = _lib.lib()
        native = params._native()
        try:
            with self._use() as h:
                check(L.ef_session_set_sampler(h, native))
        finally:
            L.ef_sampler_params_free(native)

    def sample(self) -> int:
        """Samples one token from the last logits (does not evaluate it)."""
        tok = ctypes.c_int32()
        with self._use() as h:
            check(_lib.lib().ef_session_sample(h, ctypes.byref(tok)))
        return tok.value

    # -- generation -------------------------------------------------------
    def _generate_native(self, prompt: Union[str, bytes], max_tokens: int,
                         on_token: Callable[[int, bytes], bool]) -> Tuple[int, str]:
        """Runs ef_session_generate on this thread; returns (status, message).
        An exception raised by on_token stops generation and is re-raised here."""
        data = prompt.encode("utf-8") if isinstance(prompt, str) else bytes(prompt)
        raised: List[BaseException] = []

        def trampoline(_user, token, text, length):
            if raised:
                return 1
            try:
                return 1 if on_token(token, ctypes.string_at(text, length) if length else b"") else 0
            except BaseException as exc:  # ctypes would only print it
                raised.append(exc)
                return 1

        cb = _lib.TOKEN_FN(trampoline)
        with self._use() as h:
            st = _lib.lib().ef_session_generate(h, data, len(data), int(max_tokens), cb, None)
            msg = _lib.lib().ef_last_error().decode("utf-8", "replace") if st else ""
        if raised:
            raise raised[0]
        return st, msg

    def generate_stream(self, prompt: Union[str, bytes], on_token: Optional[TokenCallback] = None,
                        max_tokens: int = 256) -> str:
        """Generates on this thread, calling on_token(token_id, text) for each token
        (text is "" while a UTF-8 character is incomplete); a truthy return stops.
        Returns the whole generated text. Raises the mapped EdgeFormerError on failure
        (CancelledError after cancel())."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        parts: List[str] = []

        def each(token: int, data: bytes) -> bool:
            text = decoder.decode(data, final=token < 0)
            parts.append(text)
            return bool(on_token(token, text)) if on_token is not None else False

        st, msg = self._generate_native(prompt, max_tokens, each)
        parts.append(decoder.decode(b"", final=True))
        if st:
            raise error_for(st, msg)
        return "".join(parts)

    def complete(self, prompt: Union[str, bytes], max_tokens: int = 256) -> str:
        """The generated continuation of prompt, as one string."""
        return self.generate_stream(prompt, None, max_tokens)

    def generate_tokens(self, prompt: Union[str, bytes], max_tokens: int = 256) -> Iterator[Tuple[int, bytes]]:
        """Iterates over (token_id, bytes) as ef_session_generate produces them
        (bytes complete UTF-8 characters; a final (-1, bytes) may carry an
        incomplete tail). Generation runs in a background thread one token
        ahead; leaving the loop early stops it."""
        results: "queue.Queue[tuple]" = queue.Queue(maxsize=1)
        stop = threading.Event()

        def on_token(token: int, data: bytes) -> bool:
            while not stop.is_set():
                try:
                    results.put(("token", token, data), timeout=0.05)
                    return False
                except queue.Full:
                    continue
            return True

        def worker() -> None:
            try:
                st, msg = self._generate_native(prompt, max_tokens, on_token)
                item: tuple = ("end", st, msg)
            except BaseException as exc:
                item = ("raise", exc)
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.05)
                    return
                except queue.Full:
                    continue

        self.handle  # raises on a closed session before the thread starts
        if self._busy.locked():
            raise StateError(13, "the session is in use by another call (a running generate?)",
                             "EF_ERR_STATE")
        self._active_stop = stop
        thread = threading.Thread(target=worker, name="edgeformer-generate", daemon=True)
        thread.start()
        finished = False
        try:
            while True:
                item = results.get()
                if item[0] == "token":
                    yield item[1], item[2]
                    continue
                finished = True
                if item[0] == "raise":
                    raise item[1]
                if item[1]:
                    raise error_for(item[1], item[2])
                return
        finally:
            if not finished:  # the consumer left early: stop the worker
                stop.set()
                self.cancel()
            thread.join()
            if self._active_stop is stop:
                self._active_stop = None

    def generate(self, prompt: Union[str, bytes], max_tokens: int = 256) -> Iterator[str]:
        """Iterates over the generated text as it streams (see generate_tokens);
        bytes that are not valid UTF-8 become U+FFFD."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for token, data in self.generate_tokens(prompt, max_tokens):
            text = decoder.decode(data, final=token < 0)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


__all__ = ["Session", "Stats", "TokenCallback", "CancelledError", "EdgeFormerError"]
