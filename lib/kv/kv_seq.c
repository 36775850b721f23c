/* Sequences: page tables and token ids, and the operations that only move
 * references (clear, copy); removal is kv_remove.c. */
#include <string.h>

#include "kv/kv_internal.h"

ef_status ef_kvq_ensure(ef_kv_cache *kv, int32_t seq) {
    ef_kv_seq *q = &kv->seqs[seq];
    if (q->table) return EF_OK;
    int32_t *tokens = ef_calloc((size_t)kv->tok_rows, sizeof *tokens); /* zeroed: a valid id in every entry */
    int32_t *table = ef_malloc(sizeof *table * (size_t)kv->table_len);
    if (!tokens || !table) {
        ef_free(tokens);
        ef_free(table);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory starting KV sequence %d", (int)seq);
    }
    for (int32_t i = 0; i < kv->table_len; i++) table[i] = -1;
    q->tokens = tokens;
    q->table = table;
    q->n_tokens = 0;
    q->lost_end = 0;
    return EF_OK;
}

void ef_kvq_trim_pages(ef_kv_cache *kv, int32_t seq, int32_t n_tokens) {
    ef_kv_seq *q = &kv->seqs[seq];
    if (!q->table) return;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        const int32_t end = il + 1 < kv->n_layer ? kv->table_off[il + 1] : kv->table_len;
        const int64_t rows = ef_kvi_layer_rows(kv, il, n_tokens);
        for (int32_t i = kv->table_off[il] + (int32_t)((rows + kv->page_rows - 1) / kv->page_rows); i < end; i++) {
            if (q->table[i] >= 0) ef_kvp_unref(kv, q->table[i]);
            q->table[i] = -1;
        }
    }
}

void ef_kvq_clear(ef_kv_cache *kv, int32_t seq) {
    ef_kvq_trim_pages(kv, seq, 0);
    kv->seqs[seq].n_tokens = 0;
    kv->seqs[seq].lost_end = 0;
}

int32_t ef_kvq_first_held(const ef_kv_cache *kv, const ef_kv_seq *q) {
    int64_t first = kv->n_sinks;
    if (q->lost_end > first) first = q->lost_end;
    if (kv->min_body < INT32_MAX && (int64_t)q->n_tokens - kv->min_body > first) first = (int64_t)q->n_tokens - kv->min_body;
    return (int32_t)first;
}

ef_status ef_kvq_copy(ef_kv_cache *kv, int32_t src, int32_t dst) {
    if (src == dst) return EF_OK;
    ef_status st = ef_kvq_ensure(kv, dst);
    if (st) return st;
    ef_kv_seq *s = &kv->seqs[src], *d = &kv->seqs[dst];
    ef_kvq_clear(kv, dst);
    if (!s->table) return EF_OK;
    for (int32_t i = 0; i < kv->table_len; i++) {
        d->table[i] = s->table[i];
        if (d->table[i] >= 0) ef_kvp_ref(kv, d->table[i]);
    }
    memcpy(d->tokens, s->tokens, sizeof *s->tokens * (size_t)ef_kvq_tok_used(kv, s->n_tokens));
    d->n_tokens = s->n_tokens;
    d->lost_end = s->lost_end;
    return EF_OK;
}
