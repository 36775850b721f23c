/* The session's KV cache (lib/kv): its own, charged to the session's
 * account, or an attached shared one; the sequence it works on; and the
 * begin/commit around each eval that keeps a failed eval from changing the
 * sequence. */
#include <stdint.h>

#include "api/session.h"
#include "kv/kv_cache.h"
#include "quant/types.h"

ef_status ef_session_open_kv(ef_session *s, const ef_exec_opts *o, ef_kv_cache *attach, const ef_kv_params *kvp,
                             int32_t seq) {
    ef_status st;
    if (attach) {
        ef_kv_layout lay;
        ef_kvi_layout(attach, &lay);
        if (seq < 0 || seq >= lay.n_seq_max)
            return ef_err(EF_ERR_INVALID_ARG, "sequence %d is outside the attached KV cache's 0..%d", (int)seq,
                          (int)lay.n_seq_max - 1);
        ef_exec_opts capped = *o;
        if (capped.n_ctx > lay.n_ctx) capped.n_ctx = lay.n_ctx; /* the cache's positions bound the context */
        if (capped.n_batch > capped.n_ctx) capped.n_batch = capped.n_ctx;
        st = ef_exec_create_paged(s->model, &capped, lay.layer_ring, &s->acct, &s->exec);
        if (st) return st;
        s->n_ctx = capped.n_ctx;
        ef_kvi_retain(attach);
        s->kv = attach;
    } else {
        st = ef_exec_create_paged(s->model, o, NULL, &s->acct, &s->exec);
        if (st) return st;
        ef_kv_params *own = NULL;
        st = ef_kv_params_create(&own);
        if (!st && kvp) st = ef_kvi_params_copy(own, kvp);
        if (!st && !kvp) own->k_type = own->v_type = o->kv_type; /* the session's kv_type option */
        if (!st) own->n_ctx = s->n_ctx;
        ef_kv_geometry geo;
        ef_exec_kv_geometry(s->exec, &geo);
        if (!st) st = ef_kvi_create(s->model, own, &geo, &s->acct, &s->kv);
        ef_kv_params_free(own);
        if (st) return st;
        if (seq < 0 || seq >= ef_kvi_n_seq_max(s->kv))
            return ef_err(EF_ERR_INVALID_ARG, "sequence %d is outside the KV cache's 0..%d", (int)seq,
                          (int)ef_kvi_n_seq_max(s->kv) - 1);
    }
    s->seq = seq;
    ef_exec_bind_kv(s->exec, s->kv, seq);
    return EF_OK;
}

void ef_session_close_kv(ef_session *s) {
    ef_kvi_release(s->kv); /* the own cache's pages go back to s->acct here */
    s->kv = NULL;
}

int ef_session_owns_kv_account(const ef_kv_cache *kv, const ef_session *s) {
    return ef_kvi_account(kv) == &s->acct;
}

void ef_session_kv_begin(ef_session *s) {
    ef_kvi_lock(s->kv);
    ef_exec_bind_kv(s->exec, s->kv, s->seq);
    s->n_past = ef_kvi_seq_len(s->kv, s->seq); /* sequence ops may have moved it */
}

ef_status ef_session_kv_end(ef_session *s, const int32_t *tokens, int32_t n) {
    ef_status st = n > 0 ? ef_kvi_seq_commit(s->kv, s->seq, tokens, n) : EF_OK;
    ef_kvi_end_step(s->kv);
    s->n_past = ef_kvi_seq_len(s->kv, s->seq);
    ef_kvi_unlock(s->kv);
    return st;
}

ef_status ef_session_kv_chunk_done(ef_session *s) { return ef_kvi_enforce_budgets(s->kv); }

int64_t ef_session_kv_room(const ef_session *s) {
    /* every layer a window ring: memory stays flat, only int32 positions bound the stream */
    const int64_t limit = ef_kvi_streams(s->kv) ? INT32_MAX : s->n_ctx;
    return limit > s->n_past ? limit - s->n_past : 0;
}

int32_t ef_session_kv_len(const ef_session *s) {
    ef_kvi_lock(s->kv);
    const int32_t n = ef_kvi_seq_len(s->kv, s->seq);
    ef_kvi_unlock(s->kv);
    return n;
}

ef_status ef_session_set_seq(ef_session *s, int32_t seq) {
    if (!s) return ef_err(EF_ERR_INVALID_ARG, "session is NULL");
    if (seq < 0 || seq >= ef_kvi_n_seq_max(s->kv))
        return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "sequence %d is outside the KV cache's 0..%d", (int)seq,
                                         (int)ef_kvi_n_seq_max(s->kv) - 1));
    s->seq = seq;
    ef_exec_bind_kv(s->exec, s->kv, seq);
    s->n_past = ef_session_kv_len(s);
    s->n_logit_rows = 0; /* the logits belonged to the other sequence */
    return EF_OK;
}

int32_t ef_session_seq(const ef_session *s) { return s ? s->seq : 0; }

ef_kv_cache *ef_session_kv_cache(ef_session *s) { return s ? s->kv : NULL; }

/* Context shift for generate: drops the older half after n_keep. */
ef_status ef_session_context_shift(ef_session *s) {
    int32_t n_keep = s->ctx_keep;
    if (n_keep < 0) n_keep = ef_vocab_bos(s->model->vocab) >= 0 ? 1 : 0; /* the prompt's BOS */
    const int32_t n = ef_session_kv_len(s);
    if (n_keep >= n - 1)
        return ef_err(EF_ERR_CONTEXT_FULL, "context shift cannot make room: %d tokens kept of %d", (int)n_keep, (int)n);
    const int32_t n_discard = (n - n_keep) / 2;
    ef_status st = ef_kv_seq_shift(s->kv, s->seq, n_keep, n_discard);
    if (st) return st;
    s->n_past = ef_session_kv_len(s);
    return EF_OK;
}
