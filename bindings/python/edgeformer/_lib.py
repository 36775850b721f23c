"""Loads libedgeformer and declares the C prototypes of edgeformer.h.

The library is searched for, in order:
  1. the path in the EDGEFORMER_LIBRARY environment variable;
  2. a libedgeformer.so* file next to this package (a wheel may bundle one);
  3. the system search path (ctypes.util.find_library("edgeformer")).

Every EF_API function is declared once in _PROTOTYPES; adding a function to
the C header means adding one line there (tests/bindings checks that the two
lists agree).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from typing import Dict, List, Optional, Sequence, Tuple

c_status = ctypes.c_int32
c_p = ctypes.c_void_p  # opaque handles: ef_model*, ef_session*, option objects
c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_i32_p = ctypes.POINTER(ctypes.c_int32)
c_i64_4 = ctypes.c_int64 * 4

# Callback types (they take the `void *user` pointer first, as in the header).
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
TOKEN_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32,
                            ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)
MALLOC_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
REALLOC_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p,
                               ctypes.c_uint64, ctypes.c_uint64)

# name: (restype, argtypes), in header order.
_PROTOTYPES: Dict[str, Tuple[object, Sequence[object]]] = {
    # version
    "ef_version_number": (ctypes.c_uint32, []),
    "ef_version_string": (ctypes.c_char_p, []),
    # status
    "ef_status_str": (ctypes.c_char_p, [c_status]),
    "ef_last_error": (ctypes.c_char_p, []),
    # logging and memory
    "ef_set_log_callback": (None, [LOG_FN, ctypes.c_void_p, ctypes.c_int32]),
    "ef_set_allocator": (c_status, [MALLOC_FN, REALLOC_FN, FREE_FN, ctypes.c_void_p]),
    # model options
    "ef_model_params_create": (c_status, [ctypes.POINTER(c_p)]),
    "ef_model_params_free": (None, [c_p]),
    "ef_model_params_set_threads": (c_status, [c_p, ctypes.c_int32]),
    "ef_model_params_set_mmap": (c_status, [c_p, ctypes.c_int32]),
    "ef_model_params_set_backend": (c_status, [c_p, ctypes.c_char_p]),
    "ef_model_params_set_quant_profile": (c_status, [c_p, c_p]),
    # models
    "ef_model_load": (c_status, [ctypes.c_char_p, c_p, ctypes.POINTER(c_p)]),
    "ef_model_free": (None, [c_p]),
    "ef_model_arch": (ctypes.c_char_p, [c_p]),
    "ef_model_n_params": (ctypes.c_uint64, [c_p]),
    "ef_model_size_bytes": (ctypes.c_uint64, [c_p]),
    "ef_model_n_ctx_train": (ctypes.c_int32, [c_p]),
    "ef_model_n_vocab": (ctypes.c_int32, [c_p]),
    "ef_model_n_embd": (ctypes.c_int32, [c_p]),
    "ef_model_n_layer": (ctypes.c_int32, [c_p]),
    "ef_model_meta_count": (ctypes.c_int64, [c_p]),
    "ef_model_meta_key": (c_status, [c_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_size_t, c_size_p]),
    "ef_model_meta_get": (c_status, [c_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, c_size_p]),
    "ef_model_tensor_count": (ctypes.c_int64, [c_p]),
    "ef_model_tensor_info": (c_status, [c_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p),
                                        ctypes.POINTER(ctypes.c_uint32), c_i32_p, c_i64_4]),
    "ef_tensor_type_name": (ctypes.c_char_p, [ctypes.c_uint32]),
    # quantization
    "ef_quant_profile_create": (c_status, [ctypes.c_char_p, ctypes.POINTER(c_p)]),
    "ef_quant_profile_free": (None, [c_p]),
    "ef_quant_profile_name": (ctypes.c_char_p, [c_p]),
    "ef_quant_profile_set_default_type": (c_status, [c_p, ctypes.c_char_p]),
    "ef_quant_profile_add_rule": (c_status, [c_p, ctypes.c_char_p, ctypes.c_char_p]),
    "ef_quant_profile_keep_embeddings": (c_status, [c_p, ctypes.c_char_p]),
    "ef_quantize_file": (c_status, [ctypes.c_char_p, ctypes.c_char_p, c_p, PROGRESS_FN, ctypes.c_void_p,
                                    ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]),
    # conversion
    "ef_convert_hf": (c_status, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, PROGRESS_FN, ctypes.c_void_p]),
    # tokens
    "ef_tokenize": (c_status, [c_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                               c_i32_p, ctypes.c_size_t, c_size_p]),
    "ef_detokenize": (c_status, [c_p, c_i32_p, ctypes.c_size_t, ctypes.c_uint32,
                                 ctypes.c_char_p, ctypes.c_size_t, c_size_p]),
    "ef_token_text": (ctypes.c_char_p, [c_p, ctypes.c_int32]),
    "ef_token_bos": (ctypes.c_int32, [c_p]),
    "ef_token_eos": (ctypes.c_int32, [c_p]),
    "ef_token_is_eog": (ctypes.c_int32, [c_p, ctypes.c_int32]),
    # chat templates
    "ef_chat_apply_template": (c_status, [c_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                          ctypes.c_size_t, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t,
                                          c_size_p]),
    "ef_chat_apply_template_named": (c_status, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                                                ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, ctypes.c_int32,
                                                ctypes.c_char_p, ctypes.c_size_t, c_size_p]),
    "ef_chat_template_family": (ctypes.c_char_p, [c_p]),
    # sampler options
    "ef_sampler_params_create": (c_status, [ctypes.POINTER(c_p)]),
    "ef_sampler_params_free": (None, [c_p]),
    "ef_sampler_params_set_temperature": (c_status, [c_p, ctypes.c_float]),
    "ef_sampler_params_set_top_k": (c_status, [c_p, ctypes.c_int32]),
    "ef_sampler_params_set_top_p": (c_status, [c_p, ctypes.c_float]),
    "ef_sampler_params_set_min_p": (c_status, [c_p, ctypes.c_float]),
    "ef_sampler_params_set_repeat_penalty": (c_status, [c_p, ctypes.c_float, ctypes.c_int32]),
    "ef_sampler_params_set_seed": (c_status, [c_p, ctypes.c_uint64]),
    # KV cache options and caches
    "ef_kv_params_create": (c_status, [ctypes.POINTER(c_p)]),
    "ef_kv_params_free": (None, [c_p]),
    "ef_kv_params_set_page_size": (c_status, [c_p, ctypes.c_int32]),
    "ef_kv_params_set_types": (c_status, [c_p, ctypes.c_char_p, ctypes.c_char_p]),
    "ef_kv_params_set_n_ctx": (c_status, [c_p, ctypes.c_int32]),
    "ef_kv_params_set_n_seq_max": (c_status, [c_p, ctypes.c_int32]),
    "ef_kv_params_set_tier_budget": (c_status, [c_p, ctypes.c_int32, ctypes.c_uint64]),
    "ef_kv_params_set_spill_dir": (c_status, [c_p, ctypes.c_char_p]),
    "ef_kv_params_set_compression": (c_status, [c_p, ctypes.c_int32]),
    "ef_kv_cache_create": (c_status, [c_p, c_p, ctypes.POINTER(c_p)]),
    "ef_kv_cache_free": (None, [c_p]),
    "ef_kv_cache_errmsg": (ctypes.c_char_p, [c_p]),
    "ef_kv_seq_clear": (c_status, [c_p, ctypes.c_int32]),
    "ef_kv_seq_remove": (c_status, [c_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]),
    "ef_kv_seq_copy": (c_status, [c_p, ctypes.c_int32, ctypes.c_int32]),
    "ef_kv_seq_keep": (c_status, [c_p, ctypes.c_int32]),
    "ef_kv_seq_shift": (c_status, [c_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]),
    "ef_kv_seq_pos_range": (c_status, [c_p, ctypes.c_int32, c_i32_p, c_i32_p]),
    "ef_kv_cache_stat": (c_status, [c_p, ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_double)]),
    "ef_kv_cache_type": (ctypes.c_char_p, [c_p, ctypes.c_int32]),
    # session options
    "ef_session_params_create": (c_status, [ctypes.POINTER(c_p)]),
    "ef_session_params_free": (None, [c_p]),
    "ef_session_params_set_n_ctx": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_threads": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_seed": (c_status, [c_p, ctypes.c_uint64]),
    "ef_session_params_set_n_batch": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_memory_budget": (c_status, [c_p, ctypes.c_uint64]),
    "ef_session_params_set_kv_type": (c_status, [c_p, ctypes.c_char_p]),
    "ef_session_params_set_matmul_mode": (c_status, [c_p, ctypes.c_char_p]),
    "ef_session_params_set_mla_path": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_window": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_sinks": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_kv_cache": (c_status, [c_p, c_p]),
    "ef_session_params_set_kv_params": (c_status, [c_p, c_p]),
    "ef_session_params_set_seq": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_params_set_context_shift": (c_status, [c_p, ctypes.c_int32, ctypes.c_int32]),
    "ef_session_params_set_backend": (c_status, [c_p, ctypes.c_char_p]),
    "ef_session_params_set_backend_option": (c_status, [c_p, ctypes.c_char_p, ctypes.c_char_p]),
    "ef_session_params_set_sparsity": (c_status, [c_p, ctypes.c_float]),
    # sessions
    "ef_session_create": (c_status, [c_p, c_p, ctypes.POINTER(c_p)]),
    "ef_session_free": (None, [c_p]),
    "ef_session_errmsg": (ctypes.c_char_p, [c_p]),
    "ef_session_n_ctx": (ctypes.c_int32, [c_p]),
    "ef_session_n_past": (ctypes.c_int32, [c_p]),
    "ef_session_matmul_mode": (ctypes.c_char_p, [c_p]),
    "ef_session_reset": (c_status, [c_p]),
    "ef_session_set_seq": (c_status, [c_p, ctypes.c_int32]),
    "ef_session_seq": (ctypes.c_int32, [c_p]),
    "ef_session_kv_cache": (c_p, [c_p]),
    "ef_session_backend": (ctypes.c_char_p, [c_p]),
    "ef_session_eval": (c_status, [c_p, c_i32_p, ctypes.c_size_t, ctypes.c_uint32]),
    "ef_session_logits": (c_status, [c_p, ctypes.c_int32, ctypes.POINTER(ctypes.POINTER(ctypes.c_float))]),
    "ef_session_set_sampler": (c_status, [c_p, c_p]),
    "ef_session_sample": (c_status, [c_p, c_i32_p]),
    "ef_session_generate": (c_status, [c_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32,
                                       TOKEN_FN, ctypes.c_void_p]),
    "ef_session_cancel": (None, [c_p]),
    "ef_session_stat": (c_status, [c_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_double)]),
    # snapshots
    "ef_session_save": (c_status, [c_p, ctypes.c_int32, ctypes.c_char_p]),
    "ef_session_save_buffer": (c_status, [c_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t, c_size_p]),
    "ef_session_restore": (c_status, [c_p, ctypes.c_int32, ctypes.c_char_p]),
    "ef_session_restore_buffer": (c_status, [c_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t]),
    # backends
    "ef_backend_count": (ctypes.c_int32, []),
    "ef_backend_get": (c_status, [ctypes.c_int32, ctypes.POINTER(c_p)]),
    "ef_backend_name": (ctypes.c_char_p, [c_p]),
    "ef_backend_device": (ctypes.c_char_p, [c_p]),
    "ef_backend_path": (ctypes.c_char_p, [c_p]),
    "ef_backend_available": (ctypes.c_int32, [c_p]),
    "ef_backend_unavailable_reason": (ctypes.c_char_p, [c_p]),
    "ef_backend_memory": (ctypes.c_uint64, [c_p]),
    "ef_backend_score": (ctypes.c_int32, [c_p]),
    # sparse MLP
    "ef_model_sparsity": (ctypes.c_uint32, [c_p, ctypes.POINTER(ctypes.c_float)]),
    "ef_sparsity_calibrate": (c_status, [c_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_float, ctypes.c_char_p]),
    # training settings
    "ef_train_params_create": (c_status, [ctypes.POINTER(c_p)]),
    "ef_train_params_free": (None, [c_p]),
    "ef_train_params_set_int": (c_status, [c_p, ctypes.c_char_p, ctypes.c_int64]),
    "ef_train_params_set_float": (c_status, [c_p, ctypes.c_char_p, ctypes.c_double]),
    "ef_train_params_set_str": (c_status, [c_p, ctypes.c_char_p, ctypes.c_char_p]),
    # tokenizer training
    "ef_tokenizer_train": (c_status, [ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p]),
    # trainers
    "ef_trainer_create": (c_status, [c_p, ctypes.POINTER(c_p)]),
    "ef_trainer_free": (None, [c_p]),
    "ef_trainer_step": (c_status, [c_p, ctypes.POINTER(ctypes.c_float)]),
    "ef_trainer_evaluate": (c_status, [c_p, ctypes.POINTER(ctypes.c_float)]),
    "ef_trainer_step_count": (ctypes.c_int64, [c_p]),
    "ef_trainer_lr": (ctypes.c_float, [c_p]),
    "ef_trainer_n_params": (ctypes.c_uint64, [c_p]),
    "ef_trainer_tokens_per_step": (ctypes.c_int64, [c_p]),
    "ef_trainer_save": (c_status, [c_p, ctypes.c_char_p]),
    "ef_trainer_load": (c_status, [c_p, ctypes.c_char_p]),
    "ef_trainer_export": (c_status, [c_p, ctypes.c_char_p]),
}

# Constants of edgeformer.h.
TOKENIZE_ADD_SPECIAL = 1
TOKENIZE_PARSE_SPECIAL = 2
DETOKENIZE_RENDER_SPECIAL = 1
EVAL_ALL_LOGITS = 1
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3
STAT_PROMPT_TOKENS = 1
STAT_PROMPT_SECONDS = 2
STAT_GEN_TOKENS = 3
STAT_GEN_SECONDS = 4
STAT_STOP_REASON = 5
STAT_MEMORY_USED = 6
STAT_MEMORY_PEAK = 7
STAT_MEMORY_BUDGET = 8
STAT_KV_BYTES_PER_TOKEN = 9
STAT_PREFILL_CHUNK = 10
STAT_SPARSE_SKIPPED = 11
KV_TIER_HOT, KV_TIER_RAM, KV_TIER_ZSTD, KV_TIER_DISK = 0, 1, 2, 3
KV_TIERS = {"hot": KV_TIER_HOT, "ram": KV_TIER_RAM, "zstd": KV_TIER_ZSTD, "disk": KV_TIER_DISK}
KV_STAT_BYTES = 1
KV_STAT_PAGES = 2
KV_STAT_RAW_BYTES = 3
KV_STAT_OFFLOADS = 4
KV_STAT_RESTORES = 5
KV_STAT_OFFLOAD_SECONDS = 6
KV_STAT_RESTORE_SECONDS = 7
KV_STAT_HIT_RATE = 8
KV_STAT_PAGE_SIZE = 9
KV_STAT_PAGE_BYTES = 10
KV_STAT_TOKENS = 11
KV_STAT_SHARED_PAGES = 12
SEQ_ALL = -1
SPARSITY_THRESHOLDS, SPARSITY_MASKED, SPARSITY_RELU = 1, 2, 4
MLA_PATH_AUTO, MLA_PATH_ABSORBED, MLA_PATH_EXPANDED = 0, 1, 2
MLA_PATHS = {"auto": MLA_PATH_AUTO, "absorbed": MLA_PATH_ABSORBED, "expanded": MLA_PATH_EXPANDED}
STOP_REASONS = {0: "none", 1: "eog", 2: "max_tokens", 3: "callback", 4: "cancelled", 5: "context_full"}


def prototype_names() -> List[str]:
    """Names of the C functions this module declares."""
    return list(_PROTOTYPES)


def _candidates() -> List[str]:
    found: List[str] = []
    env = os.environ.get("EDGEFORMER_LIBRARY")
    if env:
        found.append(env)
    here = os.path.dirname(os.path.abspath(__file__))
    found.extend(sorted(glob.glob(os.path.join(here, "libedgeformer.so*"))))
    found.extend(sorted(glob.glob(os.path.join(here, "libedgeformer*.dylib"))))
    found.extend(sorted(glob.glob(os.path.join(here, "edgeformer*.dll"))))
    system = ctypes.util.find_library("edgeformer")
    if system:
        found.append(system)
    return found


def _load() -> ctypes.CDLL:
    errors: List[str] = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        if not hasattr(lib, "ef_version_number"):
            errors.append(f"{path}: not libedgeformer")
            continue
        for name, (restype, argtypes) in _PROTOTYPES.items():
            # an older library lacks newer functions: calling them raises AttributeError
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            fn.restype = restype
            fn.argtypes = list(argtypes)
        return lib
    detail = "; ".join(errors) if errors else "no candidate found"
    raise OSError("cannot load libedgeformer (set EDGEFORMER_LIBRARY to its path): " + detail)


_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use)."""
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib
