/* Sequences: page tables and token ids, the operations that only move
 * references (clear, copy), and the epochs that tell copies of the rows
 * kept elsewhere when to refresh; removal is kv_remove.c. */
#include <stdatomic.h>
#include <string.h>

#include "kv/kv_internal.h"

/* ---- epochs ---------------------------------------------------------------- */

/* One counter for the process: an epoch never repeats, so a copy recorded
 * against a cache that was freed and replaced at the same address can
 * never look current. */
static atomic_uint_fast64_t g_last_epoch;

static uint64_t fresh_epoch(void) { return (uint64_t)atomic_fetch_add(&g_last_epoch, 1) + 1; }

void ef_kvi_seq_touch(ef_kv_cache *kv, int32_t seq, int32_t first_changed) {
    if (!kv || seq < 0 || seq >= kv->n_seq_max) return;
    ef_kv_epochs *ep = &kv->seqs[seq].epochs;
    ep->from[ep->next] = ep->now;
    ep->kept[ep->next] = first_changed > 0 ? first_changed : 0;
    ep->next = (ep->next + 1) % EF_KV_EPOCH_LOG;
    ep->now = fresh_epoch();
}

uint64_t ef_kvi_seq_epoch(const ef_kv_cache *kv, int32_t seq) {
    return kv && seq >= 0 && seq < kv->n_seq_max ? kv->seqs[seq].epochs.now : 0;
}

int32_t ef_kvi_seq_rows_kept(const ef_kv_cache *kv, int32_t seq, uint64_t since) {
    if (!kv || seq < 0 || seq >= kv->n_seq_max || since == 0) return 0;
    const ef_kv_epochs *ep = &kv->seqs[seq].epochs;
    if (ep->now == since) return INT32_MAX;
    int32_t kept = INT32_MAX;
    for (int32_t i = 1; i <= EF_KV_EPOCH_LOG; i++) { /* newest change first */
        const int32_t slot = (ep->next - i + EF_KV_EPOCH_LOG) % EF_KV_EPOCH_LOG;
        if (ep->from[slot] == 0) break; /* the log holds fewer changes */
        if (ep->kept[slot] < kept) kept = ep->kept[slot];
        if (ep->from[slot] == since) return kept;
    }
    return 0;
}

/* ---- sequences ------------------------------------------------------------- */

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
    if (q->epochs.now == 0) q->epochs.now = fresh_epoch(); /* its first rows: nothing older to keep */
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
    ef_kvi_seq_touch(kv, seq, 0);
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
