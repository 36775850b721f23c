/* The exec's side of the paged KV cache (lib/kv): new rows go into the
 * bound sequence's pages, and attention reads the layer through a page
 * view instead of the exec's own contiguous buffer. */
#include "exec/exec_internal.h"
#include "kv/kv_cache.h"

void ef_exec_bind_kv(ef_exec *e, struct ef_kv_cache *kv, int32_t seq) {
    e->kv = kv;
    e->kv_seq = seq;
}

void ef_exec_kv_geometry(const ef_exec *e, struct ef_kv_geometry *g) {
    const ef_hparams *hp = &e->m->hp;
    const int mla = hp->attn_kind == EF_ATTN_MLA;
    g->n_layer = hp->n_layer;
    g->k_width = e->kv_dim;
    g->v_width = mla ? 0 : e->kv_dim;
    g->n_ctx = e->n_ctx;
    g->n_sinks = e->n_sinks;
    g->layer_ring = e->layer_ring;
    g->layer_window = e->layer_window;
    g->rope_ok = (mla ? hp->qk_rope_dim : hp->n_rot) > 0;
}

ef_status ef_exec_kv_write(ef_exec *e, int32_t il, int32_t pos0, int32_t n, const float *k, const float *v) {
    ef_status st = ef_kvi_write_rows(e->kv, e->kv_seq, il, pos0, n, k, v);
    if (st) return st;
    const int64_t ring = e->layer_ring[il];
    const int64_t rows = ring > 0 && (int64_t)pos0 + n > ring ? ring : (int64_t)pos0 + n; /* rows in use */
    return ef_kvi_layer_view(e->kv, e->kv_seq, il, rows, &e->kv_rows[0], &e->kv_rows[1]);
}

uint64_t ef_exec_kv_row_bytes(const ef_exec *e) {
    return (uint64_t)ef_kvi_row_bytes(e->kv, 0) + (uint64_t)ef_kvi_row_bytes(e->kv, 1);
}
