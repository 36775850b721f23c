/* The session behind the public ef_session handle: one conversation's
 * execution state (KV cache, scratch), its token history, logits and sampler.
 * Shared by api_session.c (eval, logits, sampling) and api_generate.c. */
#ifndef EF_API_SESSION_H
#define EF_API_SESSION_H

#include <stdatomic.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "exec/forward.h"
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

    int32_t n_past;          /* tokens in the context */
    int32_t *history;        /* [n_ctx] the context's token ids */

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
};

/* ef_session_eval without clearing the cancel flag (for generate). */
ef_status ef_session_eval_keep_cancel(ef_session *s, const int32_t *tokens, size_t n_tokens, uint32_t flags);

/* Records the thread-local message as the session's last error; returns st. */
ef_status ef_session_fail(ef_session *s, ef_status st);

#endif
