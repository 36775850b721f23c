/* The session behind the public ef_session handle: one conversation's
 * execution state (KV cache, scratch), its token history, logits and sampler.
 * Shared by api_session.c (eval, logits, sampling) and api_generate.c. */
#ifndef EF_API_SESSION_H
#define EF_API_SESSION_H

#include <stdatomic.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "exec/forward.h"
#include "exec/exec_backend.h"
#include "model/model.h"
#include "sample/sampler.h"

#define EF_SESSION_ERRMSG_MAX 1024

struct ef_session {
    ef_model *model;         /* holds a reference */
    ef_mem_account acct;     /* everything below that scales with n_ctx/n_vocab */
    int32_t n_ctx;
    int32_t n_batch;
    ef_pool *pool;
    ef_exec *exec;

    int32_t n_past;          /* tokens in the context: the sequence's length, synced by ef_session_kv_begin/end */

    /* KV cache (api_session_kv.c): token ids and pages live in the cache's sequence */
    struct ef_kv_cache *kv;  /* the session's own (charged to acct) or an attached one; holds a reference */
    int32_t seq;             /* the sequence eval/generate work on */
    int32_t ctx_shift;       /* 1: generate shifts the context when it is full */
    int32_t ctx_keep;        /* tokens a shift keeps at the start (-1: the BOS) */

    float *logits;           /* [logits_cap / n_vocab][n_vocab] rows of the last eval */
    size_t logits_cap;       /* floats allocated */
    int32_t n_logit_rows;    /* rows valid: 0 before any eval */
    int32_t logits_all;      /* 1: row i is token i of the last eval; 0: one row, the last */

    struct ef_sampler_params sparams;
    ef_sampler *sampler;

    atomic_int cancel;

    /* statistics of the last generate */
    double prompt_tokens, prompt_seconds, gen_tokens, gen_seconds;
    int32_t stop_reason;

    char errmsg[EF_SESSION_ERRMSG_MAX];

    /* compute backend (api_backend.c) */
    const struct ef_backend *backend; /* where weight matmuls run; never NULL once created */
    ef_exec_backend *xbackend;        /* binding to a plugin backend; NULL on cpu */
};

/* ef_session_eval without clearing the cancel flag (for generate). */
ef_status ef_session_eval_keep_cancel(ef_session *s, const int32_t *tokens, size_t n_tokens, uint32_t flags);

/* The backend choice inside session params (the struct is api_session.c's). */
ef_backend_choice *ef_session_params_backend(ef_session_params *p);
/* Picks the session's backend — the choice's name, else the model's
 * default, else EF_BACKEND, else "auto" — and binds the exec state to it
 * (api_backend.c). Errors: EF_ERR_UNAVAILABLE with the reason, and those of
 * ef_exec_backend_open. */
ef_status ef_session_attach_backend(ef_session *s, const ef_backend_choice *choice, int32_t n_threads);

/* ---- api_session_kv.c ---- */
/* Creates s->exec (paged) and s->kv: the attached cache (n_ctx capped at
 * its) or an own cache from kvp (NULL: defaults with o->kv_type for K and V). */
ef_status ef_session_open_kv(ef_session *s, const ef_exec_opts *o, struct ef_kv_cache *attach,
                             const struct ef_kv_params *kvp, int32_t seq);
/* Releases the session's reference on its cache (after the exec is freed). */
void ef_session_close_kv(ef_session *s);
/* 1 when kv is some session's own cache charged to s's account. */
int ef_session_owns_kv_account(const struct ef_kv_cache *kv, const ef_session *s);
/* Around the forward passes of one eval: takes the cache's lock and syncs
 * n_past; end commits tokens[n] (n 0: nothing) to the sequence (moving pages
 * down the tiers), frees the step's staging and unlocks. */
void ef_session_kv_begin(ef_session *s);
ef_status ef_session_kv_end(ef_session *s, const int32_t *tokens, int32_t n);
/* Between two forward chunks of one eval: keeps the tier budgets (EF_ERR_IO, EF_ERR_NO_MEMORY). */
ef_status ef_session_kv_chunk_done(ef_session *s);
/* Tokens in the session's sequence. */
int32_t ef_session_kv_len(const ef_session *s);
/* Tokens that may still follow n_past: the free context, or, when every
 * layer is a window ring (streaming), up to the int32 position limit. */
int64_t ef_session_kv_room(const ef_session *s);
/* Drops the older half after ctx_keep tokens (generate with context shift). */
ef_status ef_session_context_shift(ef_session *s);

/* Records the thread-local message as the session's last error; returns st. */
ef_status ef_session_fail(ef_session *s, ef_status st);

#endif
