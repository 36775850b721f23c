/* Sequences: page tables and token ids, and the operations on them
 * (clear, remove a range with a context shift, copy, keep). */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "kv/kv_internal.h"

ef_status ef_kvq_ensure(ef_kv_cache *kv, int32_t seq) {
    ef_kv_seq *q = &kv->seqs[seq];
    if (q->table) return EF_OK;
    int32_t *tokens = ef_malloc(sizeof *tokens * (size_t)kv->n_ctx);
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
    return EF_OK;
}

/* Drops the pages of seq that hold no row of its first n_tokens positions. */
static void trim_pages(ef_kv_cache *kv, int32_t seq, int32_t n_tokens) {
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
    trim_pages(kv, seq, 0);
    kv->seqs[seq].n_tokens = 0;
}

/* Row r of layer il of seq, as page id and offset of its K bytes (page made writable). */
static ef_status writable_row(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, int64_t r, uint8_t **k, uint8_t **v) {
    int32_t *slot = &q->table[kv->table_off[il] + r / kv->page_rows];
    ef_status st = EF_OK;
    if (*slot < 0) {
        const int32_t id = ef_kvp_new(kv, il, &st);
        if (id < 0) return st;
        *slot = id;
    } else if ((st = ef_kvp_make_writable(kv, slot)) != EF_OK) {
        return st;
    }
    uint8_t *data = kv->pages[*slot].data;
    const int64_t in = r % kv->page_rows;
    *k = data + in * (int64_t)kv->k_row;
    *v = data + (int64_t)kv->page_rows * (int64_t)kv->k_row + in * (int64_t)kv->v_row;
    return EF_OK;
}

/* Turns the keys of rows [r0, r0+n) of layer il by delta positions: RoPE
 * turns pair i by pos·θ_i, so turning a key rotated for p by delta·θ_i gives
 * exactly the key for p + delta. */
static ef_status rerotate_rows(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, int64_t r0, int64_t n, int32_t delta) {
    const ef_model *m = kv->model;
    const ef_hparams *hp = &m->hp;
    const int mla = hp->attn_kind == EF_ATTN_MLA;
    const ef_rope_params rope = {mla ? EF_ROPE_NORM : hp->rope_mode, mla ? hp->qk_rope_dim : hp->n_rot,
                                 hp->rope_freq_base, hp->rope_freq_scale, m->rope_factors};
    float *row = kv->scratch_row; /* [k_width] one key row as F32 */
    for (int64_t r = r0; r < r0 + n; r++) {
        uint8_t *k, *v;
        ef_status st = writable_row(kv, q, il, r, &k, &v);
        if (st) return st;
        ef_kvr_load(kv->params.k_type, k, kv->k_width, row);
        if (mla) /* only the shared RoPE key after the latent turns */
            ef_cpu_rope(row + hp->kv_lora_rank, 1, 1, hp->qk_rope_dim, delta, &rope);
        else
            ef_cpu_rope(row, 1, hp->n_head_kv, hp->head_dim, delta, &rope);
        ef_kvr_store(kv->params.k_type, row, kv->k_width, k);
    }
    return EF_OK;
}

ef_status ef_kvq_remove(ef_kv_cache *kv, int32_t seq, int32_t p0, int32_t p1) {
    ef_kv_seq *q = &kv->seqs[seq];
    const int32_t n = q->n_tokens;
    if (p0 == p1) return EF_OK;
    /* a ring that wrapped no longer holds the positions a shorter sequence would need */
    for (int32_t il = 0; il < kv->n_layer; il++)
        if (kv->layer_ring[il] > 0 && n > kv->layer_ring[il])
            return ef_err(EF_ERR_UNSUPPORTED,
                          "cannot remove positions of KV sequence %d: window layer %d's ring of %d rows has wrapped "
                          "(%d tokens)", (int)seq, (int)il, (int)kv->layer_ring[il], (int)n);
    if (p1 < n && !kv->rope_ok)
        return ef_err(EF_ERR_UNSUPPORTED, "this model's keys cannot be re-rotated, so a middle range cannot be removed");
    const int32_t d = p1 - p0, m = n - p1; /* positions removed; positions that move down */
    if (m > 0) {
        uint8_t *tmp = ef_malloc(kv->k_row + kv->v_row + 1); /* [k_row ‖ v_row] one row in flight */
        if (!tmp) return ef_err(EF_ERR_NO_MEMORY, "out of memory shifting KV sequence %d", (int)seq);
        ef_status st = EF_OK;
        for (int32_t il = 0; !st && il < kv->n_layer; il++) {
            for (int64_t r = p1; !st && r < n; r++) {
                const int32_t *t = &q->table[kv->table_off[il] + r / kv->page_rows];
                const uint8_t *bytes = NULL;
                st = ef_kvp_read(kv, *t, &bytes);
                if (st) break;
                const int64_t in = r % kv->page_rows;
                memcpy(tmp, bytes + in * (int64_t)kv->k_row, kv->k_row);
                memcpy(tmp + kv->k_row, bytes + (int64_t)kv->page_rows * (int64_t)kv->k_row + in * (int64_t)kv->v_row,
                       kv->v_row);
                uint8_t *k, *v;
                st = writable_row(kv, q, il, r - d, &k, &v);
                if (st) break;
                memcpy(k, tmp, kv->k_row);
                memcpy(v, tmp + kv->k_row, kv->v_row);
            }
            if (!st) st = rerotate_rows(kv, q, il, p0, m, -d);
        }
        ef_free(tmp);
        if (st) return st;
        memmove(q->tokens + p0, q->tokens + p1, sizeof *q->tokens * (size_t)m);
    }
    q->n_tokens = n - d;
    trim_pages(kv, seq, q->n_tokens);
    return EF_OK;
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
    memcpy(d->tokens, s->tokens, sizeof *s->tokens * (size_t)s->n_tokens);
    d->n_tokens = s->n_tokens;
    return EF_OK;
}
