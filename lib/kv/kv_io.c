/* Rows in and out of a sequence's pages: the exec's stores and page views,
 * commits after a forward pass, and raw access for snapshots. */
#include <string.h>

#include "base/platform.h"
#include "cpu/mla_ops.h"
#include "kv/kv_internal.h"
#include "quant/types.h"

/* Page-table entries of layer il of seq (its pages count). */
static int32_t *layer_table(const ef_kv_cache *kv, const ef_kv_seq *q, int32_t il, int32_t *n_pages) {
    *n_pages = (il + 1 < kv->n_layer ? kv->table_off[il + 1] : kv->table_len) - kv->table_off[il];
    return q->table + kv->table_off[il];
}

static int bad_seq(const ef_kv_cache *kv, int32_t seq) { return !kv || seq < 0 || seq >= kv->n_seq_max; }

int32_t ef_kvi_seq_len(const ef_kv_cache *kv, int32_t seq) {
    return bad_seq(kv, seq) ? 0 : kv->seqs[seq].n_tokens;
}

ef_status ef_kvi_seq_tokens(const ef_kv_cache *kv, int32_t seq, const int32_t **tokens, int32_t *n) {
    if (bad_seq(kv, seq) || !tokens || !n)
        return ef_err(EF_ERR_INVALID_ARG, "sequence %d is not in the KV cache", (int)seq);
    const ef_kv_seq *q = &kv->seqs[seq];
    if (ef_kvq_tok_used(kv, q->n_tokens) < q->n_tokens)
        return ef_err(EF_ERR_UNSUPPORTED, "KV sequence %d has streamed to position %d: only its last %d token ids are kept",
                      (int)seq, (int)q->n_tokens, (int)kv->tok_ring);
    static const int32_t none = 0;
    *tokens = q->tokens ? q->tokens : &none;
    *n = q->n_tokens;
    return EF_OK;
}

ef_status ef_kvi_seq_info(const ef_kv_cache *kv, int32_t seq, ef_kv_seq_info *out) {
    if (bad_seq(kv, seq) || !out) return ef_err(EF_ERR_INVALID_ARG, "sequence %d is not in the KV cache", (int)seq);
    const ef_kv_seq *q = &kv->seqs[seq];
    static const int32_t none = 0;
    out->n_pos = q->n_tokens;
    out->lost_end = q->lost_end;
    out->tokens = q->tokens ? q->tokens : &none;
    out->n_tok = ef_kvq_tok_used(kv, q->n_tokens);
    out->extended = q->lost_end > 0 || out->n_tok < q->n_tokens;
    return EF_OK;
}

ef_status ef_kvi_write_rows(ef_kv_cache *kv, int32_t seq, int32_t il, int32_t pos0, int32_t n, const float *k,
                            const float *v) {
    if (bad_seq(kv, seq)) return ef_err(EF_ERR_INVALID_ARG, "sequence %d is not in the KV cache", (int)seq);
    ef_status st = ef_kvq_ensure(kv, seq);
    if (st) return st;
    ef_kv_seq *q = &kv->seqs[seq];
    int32_t n_pages;
    int32_t *table = layer_table(kv, q, il, &n_pages);
    const int32_t ring = kv->layer_ring[il];
    int32_t cur = -1; /* logical page made writable last */
    for (int32_t t = 0; t < n; t++) {
        const int64_t row = ef_attn_ring_row((int64_t)pos0 + t, ring, kv->n_sinks);
        const int32_t pg = (int32_t)(row / kv->page_rows);
        if (pg >= n_pages)
            return ef_err(EF_ERR_CONTEXT_FULL, "position %lld is past the KV cache's %d positions",
                          (long long)pos0 + t, (int)kv->n_ctx);
        if (pg != cur) {
            if (table[pg] < 0) {
                const int32_t id = ef_kvp_new(kv, il, &st);
                if (id < 0) return st;
                table[pg] = id;
            } else if ((st = ef_kvp_make_writable(kv, &table[pg])) != EF_OK) {
                return st;
            }
            cur = pg;
        }
        uint8_t *data = kv->pages[table[pg]].data; /* [page_rows][k_row] ‖ [page_rows][v_row] */
        const int64_t r = row % kv->page_rows;
        ef_kvr_store(kv->params.k_type, k + (int64_t)t * kv->k_width, kv->k_width, data + r * (int64_t)kv->k_row);
        if (v && kv->v_width)
            ef_kvr_store(kv->params.v_type, v + (int64_t)t * kv->v_width, kv->v_width,
                         data + (int64_t)kv->page_rows * (int64_t)kv->k_row + r * (int64_t)kv->v_row);
    }
    return EF_OK;
}

/* A staging page for a page that is not in a readable tier (kept for the step). */
static ef_status stage_slot(ef_kv_cache *kv, int32_t j, void **out) {
    if (!kv->stage[j]) {
        ef_status st = EF_OK;
        kv->stage[j] = ef_acct_alloc(kv->acct, kv->page_bytes, "a KV page restored for reading", &st);
        if (!kv->stage[j]) return st;
    }
    *out = kv->stage[j];
    return EF_OK;
}

ef_status ef_kvi_layer_view(ef_kv_cache *kv, int32_t seq, int32_t il, int64_t n_rows, ef_kv_rows *k, ef_kv_rows *v) {
    if (bad_seq(kv, seq)) return ef_err(EF_ERR_INVALID_ARG, "sequence %d is not in the KV cache", (int)seq);
    const ef_kv_seq *q = &kv->seqs[seq];
    if (n_rows > 0 && !q->table) return ef_err(EF_ERR_INTERNAL, "sequence %d has no KV rows to read", (int)seq);
    int32_t n_pages = 0;
    const int32_t *table = n_rows > 0 ? layer_table(kv, q, il, &n_pages) : NULL;
    const int64_t used = (n_rows + kv->page_rows - 1) / kv->page_rows;
    for (int64_t j = 0; j < used; j++) {
        if (j >= n_pages || table[j] < 0)
            return ef_err(EF_ERR_INTERNAL, "KV rows %lld.. of layer %d are missing", (long long)j * kv->page_rows,
                          (int)il);
        ef_kv_page *p = &kv->pages[table[j]];
        p->last_use = ++kv->clock;
        kv->reads_total++;
        const uint8_t *bytes = p->data;
        if (bytes) {
            kv->reads_hot += p->tier == EF_KV_TIER_HOT;
        } else {
            /* a lower tier: decoded into a staging page, the page itself stays put */
            const double t0 = ef_time_now();
            void *slot = NULL;
            ef_status st = stage_slot(kv, (int32_t)j, &slot);
            if (!st) st = ef_kvt_decode(kv, table[j], slot);
            if (st) return st;
            kv->tier[p->tier].restores++;
            kv->tier[p->tier].restore_seconds += ef_time_now() - t0;
            bytes = slot;
        }
        kv->view_k[j] = bytes;
        kv->view_v[j] = bytes + (size_t)kv->page_rows * kv->k_row;
    }
    const ef_kv_rows kr = {kv->params.k_type, kv->k_width, kv->page_rows, used, kv->view_k, kv->k_row};
    *k = kr;
    if (v) {
        const ef_kv_rows vr = {ef_kvi_type(kv, 1), kv->v_width, kv->page_rows, used, kv->view_v, kv->v_row};
        *v = kv->v_width ? vr : kr;
    }
    return EF_OK;
}

ef_status ef_kvi_enforce_budgets(ef_kv_cache *kv) { return ef_kvt_enforce(kv); }

void ef_kvi_end_step(ef_kv_cache *kv) {
    for (int32_t j = 0; j < kv->max_layer_pages; j++) {
        ef_acct_free(kv->acct, kv->stage[j]);
        kv->stage[j] = NULL;
    }
}

ef_status ef_kvi_read_rows(ef_kv_cache *kv, int32_t seq, int32_t il, int32_t which, int64_t row0, int64_t n,
                           void *dst) {
    if (bad_seq(kv, seq) || il < 0 || il >= kv->n_layer || (which && !kv->v_width))
        return ef_err(EF_ERR_INVALID_ARG, "no KV rows for sequence %d, layer %d, %s", (int)seq, (int)il,
                      which ? "V" : "K");
    const ef_kv_seq *q = &kv->seqs[seq];
    int32_t n_pages = 0;
    if (n > 0 && !q->table) return ef_err(EF_ERR_INVALID_ARG, "sequence %d holds no KV rows", (int)seq);
    const int32_t *table = n > 0 ? layer_table(kv, q, il, &n_pages) : NULL;
    const size_t rb = which ? kv->v_row : kv->k_row;
    const size_t plane = which ? (size_t)kv->page_rows * kv->k_row : 0;
    for (int64_t r = row0; r < row0 + n;) {
        const int32_t pg = (int32_t)(r / kv->page_rows);
        if (pg >= n_pages || table[pg] < 0)
            return ef_err(EF_ERR_INVALID_ARG, "KV row %lld of layer %d is not held", (long long)r, (int)il);
        const uint8_t *bytes = NULL;
        ef_status st = ef_kvp_read(kv, table[pg], &bytes);
        if (st) return st;
        const int64_t in_page = r % kv->page_rows;
        int64_t take = kv->page_rows - in_page;
        if (take > row0 + n - r) take = row0 + n - r;
        memcpy((char *)dst + (r - row0) * (int64_t)rb, bytes + plane + in_page * (int64_t)rb, (size_t)take * rb);
        r += take;
    }
    return EF_OK;
}

ef_status ef_kvi_seq_commit(ef_kv_cache *kv, int32_t seq, const int32_t *tokens, int32_t n) {
    if (bad_seq(kv, seq)) return ef_err(EF_ERR_INVALID_ARG, "sequence %d is not in the KV cache", (int)seq);
    ef_status st = ef_kvq_ensure(kv, seq);
    if (st) return st;
    ef_kv_seq *q = &kv->seqs[seq];
    if (n > (kv->stream ? INT32_MAX : kv->n_ctx) - q->n_tokens)
        return ef_err(EF_ERR_CONTEXT_FULL, "%d cached + %d new tokens exceed the KV cache's %d positions",
                      (int)q->n_tokens, (int)n, kv->stream ? INT32_MAX : (int)kv->n_ctx);
    const int32_t before = q->n_tokens;
    q->n_tokens += n;
    st = ef_kvt_enforce(kv);
    if (st) {
        q->n_tokens = before;
        return st;
    }
    /* in order, so a streaming ring ends with the last ids of a long call */
    for (int32_t t = 0; t < n; t++) q->tokens[ef_kvq_tok_index(kv, (int64_t)before + t)] = tokens[t];
    return EF_OK;
}

ef_status ef_kvi_seq_import(ef_kv_cache *kv, int32_t seq, const int32_t *tokens, int32_t n,
                            const void *const *layer_k, const void *const *layer_v) {
    if (bad_seq(kv, seq) || n < 0 || (n > kv->n_ctx && !kv->stream) || (n > 0 && (!tokens || !layer_k)))
        return ef_err(EF_ERR_INVALID_ARG, "cannot import %d tokens into KV sequence %d", (int)n, (int)seq);
    ef_status st = ef_kvq_ensure(kv, seq);
    if (st) return st;
    int32_t *table = ef_malloc(sizeof *table * (size_t)kv->table_len);
    if (!table) return ef_err(EF_ERR_NO_MEMORY, "out of memory importing a KV sequence");
    for (int32_t i = 0; i < kv->table_len; i++) table[i] = -1;
    for (int32_t il = 0; !st && il < kv->n_layer; il++) {
        const int64_t rows = ef_kvi_layer_rows(kv, il, n);
        for (int64_t r0 = 0; !st && r0 < rows; r0 += kv->page_rows) {
            const int32_t id = ef_kvp_new(kv, il, &st);
            if (id < 0) break;
            table[kv->table_off[il] + r0 / kv->page_rows] = id;
            const int64_t take = rows - r0 < kv->page_rows ? rows - r0 : kv->page_rows;
            uint8_t *data = kv->pages[id].data;
            memcpy(data, (const uint8_t *)layer_k[il] + r0 * (int64_t)kv->k_row, (size_t)take * kv->k_row);
            if (kv->v_width && layer_v && layer_v[il])
                memcpy(data + (size_t)kv->page_rows * kv->k_row, (const uint8_t *)layer_v[il] + r0 * (int64_t)kv->v_row,
                       (size_t)take * kv->v_row);
        }
    }
    if (st) {
        for (int32_t i = 0; i < kv->table_len; i++)
            if (table[i] >= 0) ef_kvp_unref(kv, table[i]);
        ef_free(table);
        return st;
    }
    ef_kvq_clear(kv, seq);
    ef_kv_seq *q = &kv->seqs[seq];
    memcpy(q->table, table, sizeof *table * (size_t)kv->table_len);
    ef_free(table);
    if (n > 0) memcpy(q->tokens, tokens, sizeof *tokens * (size_t)ef_kvq_tok_used(kv, n));
    q->n_tokens = n;
    return EF_OK;
}
