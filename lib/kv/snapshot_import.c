/* Staged, all-or-nothing import of several KV sequences (snapshot_import.h). */
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "kv/kv_internal.h"
#include "kv/snapshot_import.h"

/* One staged sequence's new contents. */
typedef struct staged_seq {
    int32_t *table;  /* [table_len] page ids, -1 none; NULL when seq is not staged */
    int32_t *tokens; /* [n_tok] the token store */
    int32_t n_tokens, n_tok, lost_end;
} staged_seq;

struct ef_kv_stage {
    ef_kv_cache *kv;
    staged_seq *seqs; /* [n_seq_max] */
};

ef_status ef_kv_stage_create(ef_kv_cache *kv, ef_kv_stage **out) {
    if (!kv || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_kv_stage_create: NULL argument");
    ef_kv_stage *st = ef_calloc(1, sizeof *st);
    staged_seq *seqs = ef_calloc((size_t)kv->n_seq_max, sizeof *seqs);
    if (!st || !seqs) {
        ef_free(st);
        ef_free(seqs);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory staging a KV-cache restore");
    }
    st->kv = kv;
    st->seqs = seqs;
    *out = st;
    return EF_OK;
}

/* Drops a staged sequence's pages and buffers. */
static void unstage(ef_kv_cache *kv, staged_seq *q) {
    if (q->table)
        for (int32_t i = 0; i < kv->table_len; i++)
            if (q->table[i] >= 0) ef_kvp_unref(kv, q->table[i]);
    ef_free(q->table);
    ef_free(q->tokens);
    memset(q, 0, sizeof *q);
}

ef_status ef_kv_stage_seq(ef_kv_stage *st, int32_t seq, const int32_t *tokens, int32_t n,
                          const void *const *layer_k, const void *const *layer_v) {
    const ef_kv_seq_info info = {n, 0, tokens, n, 0};
    return ef_kv_stage_seq_info(st, seq, &info, layer_k, layer_v);
}

ef_status ef_kv_stage_seq_begin(ef_kv_stage *st, int32_t seq, const ef_kv_seq_info *info) {
    ef_kv_cache *kv = st ? st->kv : NULL;
    const int32_t n = info ? info->n_pos : -1;
    const int32_t *tokens = info ? info->tokens : NULL;
    if (!kv || seq < 0 || seq >= kv->n_seq_max || n < 0 || (n > kv->n_ctx && !kv->stream) || (n > 0 && !tokens))
        return ef_err(EF_ERR_INVALID_ARG, "cannot stage %d tokens for KV sequence %d", (int)n, (int)seq);
    const int32_t n_tok = ef_kvq_tok_used(kv, n); /* info may give the store, or every id by position */
    if ((info->n_tok != n_tok && info->n_tok != n) || info->lost_end < 0 || info->lost_end > n)
        return ef_err(EF_ERR_INVALID_ARG, "KV sequence %d of %d positions cannot keep %d token ids and lost_end %d",
                      (int)seq, (int)n, (int)info->n_tok, (int)info->lost_end);
    staged_seq *q = &st->seqs[seq];
    if (q->table) return ef_err(EF_ERR_INVALID_ARG, "KV sequence %d is staged twice", (int)seq);
    /* the cache's own per-sequence buffers, so commit need not allocate */
    ef_status s = ef_kvq_ensure(kv, seq);
    if (s) return s;
    q->table = ef_malloc(sizeof *q->table * (size_t)kv->table_len);
    if (q->table)
        for (int32_t i = 0; i < kv->table_len; i++) q->table[i] = -1; /* before anything can unstage it */
    q->tokens = ef_malloc(sizeof *q->tokens * (size_t)(n_tok > 0 ? n_tok : 1));
    if (!q->table || !q->tokens) {
        unstage(kv, q);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory staging KV sequence %d", (int)seq);
    }
    if (info->n_tok == n_tok) {
        if (n_tok > 0) memcpy(q->tokens, tokens, sizeof *tokens * (size_t)n_tok);
    } else { /* by position (a snapshot from before streaming) into a token ring: in order, the last win */
        for (int32_t p = 0; p < n; p++) q->tokens[ef_kvq_tok_index(kv, p)] = tokens[p];
    }
    q->n_tokens = n;
    q->n_tok = n_tok;
    q->lost_end = info->lost_end;
    return EF_OK;
}

ef_status ef_kv_stage_page(ef_kv_stage *st, int32_t seq, int32_t il, int64_t page, uint8_t **k_rows,
                           uint8_t **v_rows) {
    ef_kv_cache *kv = st ? st->kv : NULL;
    staged_seq *q = kv && seq >= 0 && seq < kv->n_seq_max ? &st->seqs[seq] : NULL;
    if (!q || !q->table || il < 0 || il >= kv->n_layer || page < 0 ||
        page * kv->page_rows >= ef_kvi_layer_rows(kv, il, q->n_tokens) || !k_rows || !v_rows)
        return ef_err(EF_ERR_INVALID_ARG, "no staged KV page %lld of sequence %d, layer %d", (long long)page, (int)seq,
                      (int)il);
    /* the pages handed out before are complete for now: let them (and older ones) move down */
    ef_status s = ef_kvt_enforce(kv);
    if (s) return s;
    int32_t *id = &q->table[kv->table_off[il] + page];
    if (*id < 0) {
        *id = ef_kvp_new(kv, il, &s);
        if (*id < 0) return s;
    } else {
        s = ef_kvt_restore(kv, *id); /* moved down after its K rows: back for its V rows */
        if (s) return s;
        kv->pages[*id].last_use = ++kv->clock;
    }
    uint8_t *data = kv->pages[*id].data; /* [page_rows][k_row] ‖ [page_rows][v_row] */
    *k_rows = data;
    *v_rows = kv->v_width ? data + (size_t)kv->page_rows * kv->k_row : NULL;
    return EF_OK;
}

ef_status ef_kv_stage_seq_info(ef_kv_stage *st, int32_t seq, const ef_kv_seq_info *info,
                               const void *const *layer_k, const void *const *layer_v) {
    ef_kv_cache *kv = st ? st->kv : NULL;
    const int32_t n = info ? info->n_pos : -1;
    if (!kv || (n > 0 && !layer_k) || (n > 0 && kv->v_width && !layer_v))
        return ef_err(EF_ERR_INVALID_ARG, "cannot stage %d tokens for KV sequence %d", (int)n, (int)seq);
    EF_TRY(ef_kv_stage_seq_begin(st, seq, info));
    for (int32_t il = 0; il < kv->n_layer; il++) {
        const int64_t rows = ef_kvi_layer_rows(kv, il, n);
        for (int64_t r0 = 0; r0 < rows; r0 += kv->page_rows) {
            uint8_t *k = NULL, *v = NULL;
            ef_status s = ef_kv_stage_page(st, seq, il, r0 / kv->page_rows, &k, &v);
            if (s) {
                unstage(kv, &st->seqs[seq]);
                return s;
            }
            const int64_t take = rows - r0 < kv->page_rows ? rows - r0 : kv->page_rows;
            memcpy(k, (const uint8_t *)layer_k[il] + r0 * (int64_t)kv->k_row, (size_t)take * kv->k_row);
            if (v) memcpy(v, (const uint8_t *)layer_v[il] + r0 * (int64_t)kv->v_row, (size_t)take * kv->v_row);
        }
    }
    return EF_OK;
}

void ef_kv_stage_commit(ef_kv_stage *st, int32_t clear_others) {
    if (!st) return;
    ef_kv_cache *kv = st->kv;
    for (int32_t seq = 0; seq < kv->n_seq_max; seq++) {
        staged_seq *q = &st->seqs[seq];
        if (!q->table) {
            if (clear_others) ef_kvq_clear(kv, seq);
            continue;
        }
        ef_kvq_clear(kv, seq);
        ef_kv_seq *dst = &kv->seqs[seq]; /* ensured when staged */
        memcpy(dst->table, q->table, sizeof *q->table * (size_t)kv->table_len);
        if (q->n_tok > 0) memcpy(dst->tokens, q->tokens, sizeof *q->tokens * (size_t)q->n_tok);
        dst->n_tokens = q->n_tokens;
        dst->lost_end = q->lost_end;
        /* other rows than before: copies kept elsewhere (the device backend's) are stale
         * (ef_kvq_clear started an epoch too; this one marks the restored rows) */
        ef_kvi_seq_touch(kv, seq, 0);
        for (int32_t i = 0; i < kv->table_len; i++) q->table[i] = -1; /* the pages now belong to seq */
        unstage(kv, q);
    }
    /* The new pages arrived hot: move them down now if the budgets say so.
     * A failed spill leaves them hot, which is still a correct cache. */
    if (ef_kvt_enforce(kv) != EF_OK) EF_LOGW("KV snapshot restore: pages stay hot: %s", ef_err_msg());
}

void ef_kv_stage_free(ef_kv_stage *st) {
    if (!st) return;
    for (int32_t seq = 0; seq < st->kv->n_seq_max; seq++) unstage(st->kv, &st->seqs[seq]);
    ef_free(st->seqs);
    ef_free(st);
}
