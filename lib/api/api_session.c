/* Public session handle: options, create/free, eval, logits, sampling, stats. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/session.h"
#include "base/log.h"
#include "base/platform.h"
#include "cpu/matmul_kernels.h"
#include "exec/ffn_sparse.h"
#include "kv/kv_cache.h"
#include "quant/types.h"

struct ef_session_params {
    int32_t n_ctx;
    int32_t n_threads;
    int32_t n_batch;
    uint64_t seed;
    uint64_t budget;
    uint32_t kv_type; /* EF_TYPE_F16 (default) or EF_TYPE_F32 */
    int32_t mla_path;    /* EF_MLA_PATH_* */
    int32_t window;      /* window override, -1: the model's */
    int32_t sinks;       /* sink-count override, -1: the model's */
    int32_t matmul_mode; /* ef_matmul_mode; 0 = the process default */
    float sparsity;      /* FFN neurons skipped per decode token; 0 = dense */
    ef_backend_choice backend; /* backend name ("" = default) and options (api_backend.c) */
    struct ef_kv_cache *kv_cache;   /* attached cache (a reference), or NULL: the session's own */
    struct ef_kv_params *kv_params; /* options of the own cache (a copy), or NULL: defaults */
    int32_t seq;                    /* the sequence the session starts on */
    int32_t ctx_shift, ctx_keep;    /* generate's context shift (api_session_kv.c) */
};

ef_backend_choice *ef_session_params_backend(ef_session_params *p) { return p ? &p->backend : NULL; }

ef_status ef_session_params_create(ef_session_params **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_session_params_create: out is NULL");
    ef_session_params *p = ef_calloc(1, sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating session params");
    p->n_batch = 512;
    p->kv_type = EF_TYPE_F16;
    p->window = -1;
    p->sinks = -1;
    *out = p;
    return EF_OK;
}

void ef_session_params_free(ef_session_params *p) {
    if (!p) return;
    ef_kv_cache_free(p->kv_cache);
    ef_kv_params_free(p->kv_params);
    ef_free(p);
}

/* ---- KV cache options (the cache itself: api_session_kv.c, lib/kv) ---- */
ef_status ef_session_params_set_kv_cache(ef_session_params *p, ef_kv_cache *kv) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (kv && !ef_kvi_has_own_account(kv))
        return ef_err(EF_ERR_INVALID_ARG, "a session's own KV cache cannot be attached elsewhere; "
                                          "create a shared one with ef_kv_cache_create");
    if (kv) ef_kvi_retain(kv);
    ef_kv_cache_free(p->kv_cache);
    p->kv_cache = kv;
    return EF_OK;
}

ef_status ef_session_params_set_kv_params(ef_session_params *p, const ef_kv_params *kv) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    ef_kv_params *copy = NULL;
    if (kv) {
        ef_status st = ef_kv_params_create(&copy);
        if (!st) st = ef_kvi_params_copy(copy, kv);
        if (st) {
            ef_kv_params_free(copy);
            return st;
        }
    }
    ef_kv_params_free(p->kv_params);
    p->kv_params = copy;
    return EF_OK;
}

ef_status ef_session_params_set_seq(ef_session_params *p, int32_t seq) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (seq < 0 || seq >= 4096) return ef_err(EF_ERR_INVALID_ARG, "sequence must be 0..4095, got %d", (int)seq);
    p->seq = seq;
    return EF_OK;
}

ef_status ef_session_params_set_context_shift(ef_session_params *p, int32_t enable, int32_t n_keep) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if ((enable != 0 && enable != 1) || n_keep < -1)
        return ef_err(EF_ERR_INVALID_ARG, "context shift needs enable 0 or 1 and n_keep >= -1 (got %d, %d)",
                      (int)enable, (int)n_keep);
    p->ctx_shift = enable;
    p->ctx_keep = n_keep;
    return EF_OK;
}

ef_status ef_session_params_set_n_ctx(ef_session_params *p, int32_t n_ctx) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (n_ctx < 0) return ef_err(EF_ERR_INVALID_ARG, "n_ctx must be >= 0, got %d", (int)n_ctx);
    p->n_ctx = n_ctx;
    return EF_OK;
}

ef_status ef_session_params_set_threads(ef_session_params *p, int32_t n_threads) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (n_threads < 0 || n_threads > 1024)
        return ef_err(EF_ERR_INVALID_ARG, "threads must be in 0..1024, got %d", (int)n_threads);
    p->n_threads = n_threads;
    return EF_OK;
}

ef_status ef_session_params_set_seed(ef_session_params *p, uint64_t seed) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    p->seed = seed;
    return EF_OK;
}

ef_status ef_session_params_set_n_batch(ef_session_params *p, int32_t n_batch) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (n_batch < 1) return ef_err(EF_ERR_INVALID_ARG, "n_batch must be >= 1, got %d", (int)n_batch);
    p->n_batch = n_batch;
    return EF_OK;
}

ef_status ef_session_params_set_memory_budget(ef_session_params *p, uint64_t bytes) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    p->budget = bytes;
    return EF_OK;
}

ef_status ef_session_params_set_kv_type(ef_session_params *p, const char *type) {
    if (!p || !type) return ef_err(EF_ERR_INVALID_ARG, "ef_session_params_set_kv_type: params or type is NULL");
    const int quantized = !strcmp(type, "q8_0") || !strcmp(type, "q4_0");
    if (!strcmp(type, "f16"))
        p->kv_type = EF_TYPE_F16;
    else if (!strcmp(type, "f32"))
        p->kv_type = EF_TYPE_F32;
    else if (!quantized)
        return ef_err(EF_ERR_INVALID_ARG, "KV-cache type '%s' is not supported (f16, f32, q8_0, q4_0)", type);
    /* quantized pages live in the KV options; the exec's own scratch stays F16 */
    if (quantized && !p->kv_params) {
        ef_status st = ef_kv_params_create(&p->kv_params);
        if (st) return st;
    }
    if (p->kv_params) return ef_kv_params_set_types(p->kv_params, type, type);
    return EF_OK;
}

ef_status ef_session_params_set_mla_path(ef_session_params *p, int32_t path) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (path < EF_MLA_PATH_AUTO || path > EF_MLA_PATH_EXPANDED)
        return ef_err(EF_ERR_INVALID_ARG, "MLA path must be EF_MLA_PATH_AUTO, _ABSORBED or _EXPANDED, got %d",
                      (int)path);
    p->mla_path = path;
    return EF_OK;
}

ef_status ef_session_params_set_window(ef_session_params *p, int32_t window) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (window < -1) return ef_err(EF_ERR_INVALID_ARG, "window must be >= -1, got %d", (int)window);
    p->window = window;
    return EF_OK;
}

ef_status ef_session_params_set_sinks(ef_session_params *p, int32_t sinks) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (sinks < -1) return ef_err(EF_ERR_INVALID_ARG, "sinks must be >= -1, got %d", (int)sinks);
    p->sinks = sinks;
    return EF_OK;
}

ef_status ef_session_params_set_matmul_mode(ef_session_params *p, const char *mode) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "ef_session_params_set_matmul_mode: params is NULL");
    if (!mode) {
        p->matmul_mode = EF_MATMUL_MODE_DEFAULT;
        return EF_OK;
    }
    int m = ef_matmul_mode_from_name(mode);
    if (m < 0)
        return ef_err(EF_ERR_INVALID_ARG, "unknown matmul mode \"%s\" (valid: weight-only, integer-dot)", mode);
    p->matmul_mode = m;
    return EF_OK;
}

ef_status ef_session_params_set_sparsity(ef_session_params *p, float level) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "ef_session_params_set_sparsity: params is NULL");
    if (!(level >= 0.0f && level < 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "sparsity level %g is outside [0, 1)", (double)level);
    p->sparsity = level;
    return EF_OK;
}

const char *ef_session_matmul_mode(const ef_session *s) {
    return s ? ef_matmul_mode_name((ef_matmul_mode)ef_exec_matmul_mode(s->exec)) : "";
}

ef_status ef_session_fail(ef_session *s, ef_status st) {
    snprintf(s->errmsg, sizeof s->errmsg, "%s", ef_err_msg());
    return st;
}

void ef_session_free(ef_session *s) {
    if (!s) return;
    ef_sampler_free(s->sampler);
    ef_exec_free(s->exec, &s->acct);
    ef_session_close_kv(s);
    ef_exec_backend_close(s->xbackend);
    ef_acct_free(&s->acct, s->logits);
    ef_pool_free(s->pool);
    ef_model_release(s->model);
    ef_free(s);
}

ef_status ef_session_create(ef_model *model, const ef_session_params *params, ef_session **out) {
    if (!model || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_session_create: model or out is NULL");
    ef_session_params defaults = {.n_batch = 512, .kv_type = EF_TYPE_F16, .mla_path = EF_MLA_PATH_AUTO,
                                  .window = -1, .sinks = -1}; /* designated: new fields default to 0 */
    const ef_session_params *p = params ? params : &defaults;

    ef_session *s = ef_calloc(1, sizeof *s);
    if (!s) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a session");
    ef_model_retain(model);
    s->model = model;
    s->acct.budget = p->budget;
    s->n_ctx = p->n_ctx;
    if (s->n_ctx == 0) {
        int32_t train = model->hp.n_ctx_train;
        s->n_ctx = (train > 0 && train < 4096) ? train : 4096;
    }
    s->n_batch = p->n_batch < s->n_ctx ? p->n_batch : s->n_ctx;
    int32_t n_threads = p->n_threads ? p->n_threads : ef_num_cores();

    ef_status st = ef_pool_create(n_threads, &s->pool);
    if (st == EF_OK) {
        /* the public EF_MLA_PATH_* values are exec's EF_MLA_* */
        ef_exec_opts o = {s->n_ctx, s->n_batch, p->kv_type, p->mla_path, 0, p->window, p->sinks};
        st = ef_session_open_kv(s, &o, p->kv_cache, p->kv_params, p->seq); /* the exec and its paged cache */
        s->ctx_shift = p->ctx_shift;
        s->ctx_keep = p->ctx_keep;
    }
    if (st == EF_OK) {
        s->n_batch = ef_exec_n_batch(s->exec); /* a budget may have shrunk the prefill chunk */
        ef_exec_set_matmul_mode(s->exec, ef_matmul_mode_resolve((ef_matmul_mode)p->matmul_mode));
    }
    if (st == EF_OK && p->sparsity > 0.0f) st = ef_exec_set_sparsity(s->exec, p->sparsity, NULL);
    if (st == EF_OK) st = ef_session_attach_backend(s, &p->backend, n_threads);
    if (st == EF_OK) {
        s->logits_cap = (size_t)model->hp.n_vocab;
        s->logits = ef_acct_alloc(&s->acct, s->logits_cap * sizeof(float), "logits", &st);
    }
    if (st == EF_OK) {
        ef_sampler_params_defaults(&s->sparams);
        s->sparams.seed = p->seed;
        st = ef_sampler_create(&s->sparams, model->hp.n_vocab, &s->sampler);
    }
    if (st != EF_OK) {
        ef_session_free(s);
        return ef_err_prefix(st, "cannot create session (n_ctx %d)", (int)(p->n_ctx ? p->n_ctx : 0));
    }
    atomic_init(&s->cancel, 0);
    *out = s;
    return EF_OK;
}

const char *ef_session_errmsg(const ef_session *s) { return s ? s->errmsg : ""; }
int32_t ef_session_n_ctx(const ef_session *s) { return s ? s->n_ctx : 0; }
int32_t ef_session_n_past(const ef_session *s) { return s ? ef_session_kv_len(s) : 0; }

ef_status ef_session_reset(ef_session *s) {
    if (!s) return ef_err(EF_ERR_INVALID_ARG, "session is NULL");
    ef_kv_seq_clear(s->kv, s->seq); /* the sequence's tokens and pages */
    s->n_past = 0;
    s->n_logit_rows = 0;
    ef_sampler_reset(s->sampler);
    return EF_OK;
}

/* Makes room for `rows` logit rows, charged to the session's budget. */
static ef_status reserve_logits(ef_session *s, size_t rows) {
    size_t need = rows * (size_t)s->model->hp.n_vocab;
    if (need <= s->logits_cap) return EF_OK;
    ef_status st = EF_OK;
    float *bigger = ef_acct_alloc(&s->acct, need * sizeof(float), "logits of every token", &st);
    if (!bigger) return st;
    ef_acct_free(&s->acct, s->logits);
    s->logits = bigger;
    s->logits_cap = need;
    return EF_OK;
}

ef_status ef_session_eval(ef_session *s, const int32_t *tokens, size_t n_tokens, uint32_t flags) {
    if (!s) return ef_err(EF_ERR_INVALID_ARG, "session is NULL");
    atomic_store(&s->cancel, 0);
    return ef_session_eval_keep_cancel(s, tokens, n_tokens, flags);
}

ef_status ef_session_eval_keep_cancel(ef_session *s, const int32_t *tokens, size_t n_tokens, uint32_t flags) {
    if (!tokens || n_tokens == 0)
        return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "ef_session_eval: no tokens given"));
    int32_t n_vocab = s->model->hp.n_vocab;
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "token %zu has id %d, outside the vocabulary (0..%d)",
                                             i, (int)tokens[i], (int)n_vocab - 1));
    ef_session_kv_begin(s); /* the cache's lock, until ef_session_kv_end */
    ef_status st = EF_OK;
    if ((uint64_t)n_tokens > (uint64_t)ef_session_kv_room(s)) /* n_ctx, unless the session streams */
        st = ef_err(EF_ERR_CONTEXT_FULL, "%zu tokens do not fit: context holds %d of %d", n_tokens, (int)s->n_past,
                    (int)s->n_ctx);
    int32_t all = (flags & EF_EVAL_ALL_LOGITS) != 0;
    if (st == EF_OK) st = reserve_logits(s, all ? n_tokens : 1);
    if (st != EF_OK) {
        ef_session_kv_end(s, NULL, 0);
        return ef_session_fail(s, st);
    }

    int32_t n_past = s->n_past;
    for (size_t done = 0; done < n_tokens;) {
        int32_t chunk = (int32_t)(n_tokens - done < (size_t)s->n_batch ? n_tokens - done : (size_t)s->n_batch);
        float *out = all ? s->logits + done * (size_t)n_vocab : s->logits;
        st = ef_exec_forward(s->exec, s->pool, tokens + done, chunk, n_past, all, out, &s->cancel);
        if (st == EF_OK && done + (size_t)chunk < n_tokens) st = ef_session_kv_chunk_done(s); /* tier budgets */
        if (st != EF_OK) {
            s->n_logit_rows = 0; /* the context is unchanged: nothing committed */
            ef_session_kv_end(s, NULL, 0);
            return ef_session_fail(s, st);
        }
        n_past += chunk;
        done += (size_t)chunk;
    }
    st = ef_session_kv_end(s, tokens, (int32_t)n_tokens); /* the tokens join the sequence */
    if (st != EF_OK) {
        s->n_logit_rows = 0;
        return ef_session_fail(s, st);
    }
    s->n_logit_rows = all ? (int32_t)n_tokens : 1;
    s->logits_all = all;
    return EF_OK;
}

ef_status ef_session_logits(ef_session *s, int32_t index, const float **logits) {
    if (!s || !logits) return ef_err(EF_ERR_INVALID_ARG, "ef_session_logits: NULL argument");
    if (s->n_logit_rows == 0)
        return ef_session_fail(s, ef_err(EF_ERR_STATE, "no logits: nothing has been evaluated"));
    int32_t row;
    if (index == -1)
        row = s->n_logit_rows - 1;
    else if (index >= 0 && index < s->n_logit_rows && s->logits_all)
        row = index;
    else
        return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG,
                                         "logits row %d not kept (last eval kept %d row(s)%s)", (int)index,
                                         (int)s->n_logit_rows, s->logits_all ? "" : "; use EF_EVAL_ALL_LOGITS"));
    *logits = s->logits + (size_t)row * (size_t)s->model->hp.n_vocab;
    return EF_OK;
}

ef_status ef_session_set_sampler(ef_session *s, const ef_sampler_params *params) {
    if (!s || !params) return ef_err(EF_ERR_INVALID_ARG, "ef_session_set_sampler: NULL argument");
    ef_sampler *fresh = NULL;
    ef_status st = ef_sampler_create(params, s->model->hp.n_vocab, &fresh);
    if (st != EF_OK) return ef_session_fail(s, st);
    ef_sampler_free(s->sampler);
    s->sampler = fresh;
    s->sparams = *params;
    return EF_OK;
}

ef_status ef_session_sample(ef_session *s, int32_t *token) {
    if (!s || !token) return ef_err(EF_ERR_INVALID_ARG, "ef_session_sample: NULL argument");
    const float *logits = NULL;
    ef_status st = ef_session_logits(s, -1, &logits);
    if (st != EF_OK) return st;
    st = ef_sampler_sample(s->sampler, logits, token);
    return st == EF_OK ? EF_OK : ef_session_fail(s, st);
}

void ef_session_cancel(ef_session *s) {
    if (s) atomic_store(&s->cancel, 1);
}

ef_status ef_session_stat(const ef_session *s, int32_t key, double *value) {
    if (!s || !value) return ef_err(EF_ERR_INVALID_ARG, "ef_session_stat: NULL argument");
    switch (key) {
    case EF_STAT_PROMPT_TOKENS: *value = s->prompt_tokens; break;
    case EF_STAT_PROMPT_SECONDS: *value = s->prompt_seconds; break;
    case EF_STAT_GEN_TOKENS: *value = s->gen_tokens; break;
    case EF_STAT_GEN_SECONDS: *value = s->gen_seconds; break;
    case EF_STAT_STOP_REASON: *value = s->stop_reason; break;
    case EF_STAT_MEMORY_USED: *value = (double)s->acct.used; break;
    case EF_STAT_MEMORY_PEAK: *value = (double)s->acct.peak; break;
    case EF_STAT_MEMORY_BUDGET: *value = (double)s->acct.budget; break;
    case EF_STAT_KV_BYTES_PER_TOKEN: *value = (double)ef_exec_kv_bytes_per_token(s->exec); break;
    case EF_STAT_PREFILL_CHUNK: *value = s->n_batch; break;
    case EF_STAT_SPARSE_SKIPPED: *value = ef_exec_sparse_skipped(s->exec); break;
    default: return ef_err(EF_ERR_INVALID_ARG, "unknown statistic key %d", (int)key);
    }
    return EF_OK;
}
