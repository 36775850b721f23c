/* The cache's lifetime, lock and layout queries. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "quant/types.h"

void ef_kvi_lock(ef_kv_cache *kv) { ef_mutex_lock(kv->mutex); }

void ef_kvi_unlock(ef_kv_cache *kv) { ef_mutex_unlock(kv->mutex); }

static void destroy(ef_kv_cache *kv) {
    for (int32_t s = 0; kv->seqs && s < kv->n_seq_max; s++) {
        ef_free(kv->seqs[s].tokens);
        ef_free(kv->seqs[s].table);
    }
    if (kv->stage) ef_kvi_end_step(kv);
    ef_free(kv->stage);
    ef_free((void *)kv->view_k);
    ef_free((void *)kv->view_v);
    ef_kvp_free_all(kv);
    ef_kvt_free(kv);
    ef_kvs_close(kv);
    ef_free(kv->seqs);
    ef_free(kv->layer_ring);
    ef_free(kv->layer_window);
    ef_free(kv->table_off);
    ef_acct_free(kv->acct, kv->scratch_page);
    ef_free(kv->scratch_row);
    ef_free(kv->params.spill_dir);
    if (kv->mutex) ef_mutex_free(kv->mutex);
    if (kv->model) ef_model_release(kv->model);
    ef_free(kv);
}

/* Types the store can hold, and whether rows of `width` fit their blocks. */
static ef_status check_type(uint32_t type, int32_t width, int32_t head, const char *which) {
    const ef_type_info *ti = ef_type_get(type);
    if (!ti || !ti->to_float || (type != EF_TYPE_F32 && type != EF_TYPE_F16 && !ti->from_float))
        return ef_err(EF_ERR_UNSUPPORTED, "KV %s type %s cannot be stored in this build", which, ef_type_name(type));
    if (width % ti->block_size || head % ti->block_size)
        return ef_err(EF_ERR_UNSUPPORTED, "a %s KV cache needs head sizes that are multiples of %d; this model's %s is %d",
                      ef_type_name(type), (int)ti->block_size, which, (int)head);
    return EF_OK;
}

/* Streaming needs every layer to be a ring: then nothing bounds a
 * sequence's positions but int32, and its token ids need only the ring's
 * rows (the sinks and the last positions any layer still holds). */
static void plan_streaming(ef_kv_cache *kv) {
    int32_t rings = 0;
    kv->min_body = INT32_MAX;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        if (kv->layer_ring[il] <= 0) continue;
        rings++;
        if (kv->layer_ring[il] - kv->n_sinks < kv->min_body) kv->min_body = kv->layer_ring[il] - kv->n_sinks;
    }
    kv->stream = kv->n_layer > 0 && rings == kv->n_layer;
    kv->tok_ring = kv->stream ? kv->n_sinks + kv->min_body : 0;
    kv->tok_rows = kv->stream ? kv->tok_ring : kv->n_ctx;
}

static ef_status setup(ef_kv_cache *kv, const ef_kv_geometry *g) {
    const ef_hparams *hp = &kv->model->hp;
    const int mla = hp->attn_kind == EF_ATTN_MLA;
    kv->n_layer = g->n_layer;
    kv->n_ctx = g->n_ctx;
    kv->n_seq_max = kv->params.n_seq_max;
    kv->n_sinks = g->n_sinks;
    kv->k_width = g->k_width;
    kv->v_width = g->v_width;
    kv->rope_ok = g->rope_ok;
    kv->page_rows = kv->params.page_size < g->n_ctx ? kv->params.page_size : g->n_ctx;
    ef_status st = check_type(kv->params.k_type, g->k_width, mla ? g->k_width : hp->head_dim, "K");
    if (!st && g->v_width) st = check_type(kv->params.v_type, g->v_width, hp->head_dim, "V");
    if (st) return st;
    kv->k_row = (size_t)ef_type_row_size(kv->params.k_type, g->k_width);
    kv->v_row = g->v_width ? (size_t)ef_type_row_size(kv->params.v_type, g->v_width) : 0;
    kv->page_bytes = (size_t)kv->page_rows * (kv->k_row + kv->v_row);
    kv->layer_ring = ef_calloc((size_t)g->n_layer, sizeof *kv->layer_ring);
    kv->layer_window = ef_calloc((size_t)g->n_layer, sizeof *kv->layer_window);
    kv->table_off = ef_calloc((size_t)g->n_layer, sizeof *kv->table_off);
    kv->seqs = ef_calloc((size_t)kv->n_seq_max, sizeof *kv->seqs);
    const int32_t widest = g->k_width > g->v_width ? g->k_width : g->v_width;
    kv->scratch_row = ef_malloc(sizeof(float) * (size_t)widest);
    if (!kv->layer_ring || !kv->layer_window || !kv->table_off || !kv->seqs || !kv->scratch_row)
        return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the KV cache's tables");
    kv->scratch_page = ef_acct_alloc(kv->acct, kv->page_bytes, "the KV page decode buffer", &st);
    if (!kv->scratch_page) return st;
    int64_t entries = 0;
    for (int32_t il = 0; il < g->n_layer; il++) {
        kv->layer_ring[il] = g->layer_ring ? g->layer_ring[il] : 0;
        kv->layer_window[il] = g->layer_window ? g->layer_window[il] : 0;
        if (kv->layer_ring[il] < 0 || (kv->layer_ring[il] > 0 && kv->layer_ring[il] <= kv->n_sinks))
            return ef_err(EF_ERR_INVALID_ARG, "KV layer %d: a ring of %d rows cannot hold %d sinks and a window",
                          (int)il, (int)kv->layer_ring[il], (int)kv->n_sinks);
        const int64_t rows = kv->layer_ring[il] > 0 ? kv->layer_ring[il] : g->n_ctx;
        kv->table_off[il] = (int32_t)entries;
        const int64_t pages = (rows + kv->page_rows - 1) / kv->page_rows;
        if (pages > kv->max_layer_pages) kv->max_layer_pages = (int32_t)pages;
        entries += pages;
    }
    plan_streaming(kv);
    kv->view_k = ef_calloc((size_t)kv->max_layer_pages, sizeof *kv->view_k);
    kv->view_v = ef_calloc((size_t)kv->max_layer_pages, sizeof *kv->view_v);
    kv->stage = ef_calloc((size_t)kv->max_layer_pages, sizeof *kv->stage);
    if (!kv->view_k || !kv->view_v || !kv->stage)
        return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the KV cache's page views");
    kv->table_len = (int32_t)entries;
    if (kv->params.spill_dir) st = ef_kvs_open(kv);
    return st;
}

ef_status ef_kvi_create(ef_model *model, const ef_kv_params *params, const ef_kv_geometry *geo, ef_mem_account *acct,
                        ef_kv_cache **out) {
    *out = NULL;
    ef_kv_cache *kv = ef_calloc(1, sizeof *kv);
    if (!kv) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a KV cache");
    kv->refs = 1;
    kv->acct = acct ? acct : &kv->own_acct;
    ef_model_retain(model);
    kv->model = model;
    ef_kv_params defaults;
    ef_kvi_params_defaults(&defaults);
    ef_status st = ef_mutex_create(&kv->mutex);
    if (!st) st = ef_kvi_params_copy(&kv->params, params ? params : &defaults);
    if (!st) st = setup(kv, geo);
    if (st) {
        destroy(kv);
        return st;
    }
    *out = kv;
    return EF_OK;
}

void ef_kvi_retain(ef_kv_cache *kv) {
    ef_kvi_lock(kv);
    kv->refs++;
    ef_kvi_unlock(kv);
}

void ef_kvi_release(ef_kv_cache *kv) {
    if (!kv) return;
    ef_kvi_lock(kv);
    const int32_t left = --kv->refs;
    ef_kvi_unlock(kv);
    if (left == 0) destroy(kv);
}

ef_mem_account *ef_kvi_account(const ef_kv_cache *kv) { return kv->acct; }
int ef_kvi_has_own_account(const ef_kv_cache *kv) { return kv->acct == &kv->own_acct; }

ef_status ef_kvi_fail(ef_kv_cache *kv, ef_status st) {
    snprintf(kv->errmsg, sizeof kv->errmsg, "%s", ef_err_msg());
    return st;
}

int32_t ef_kvi_n_layer(const ef_kv_cache *kv) { return kv->n_layer; }
int32_t ef_kvi_n_seq_max(const ef_kv_cache *kv) { return kv->n_seq_max; }
int32_t ef_kvi_n_ctx(const ef_kv_cache *kv) { return kv->n_ctx; }
int32_t ef_kvi_streams(const ef_kv_cache *kv) { return kv->stream; }
int32_t ef_kvi_token_rows(const ef_kv_cache *kv, int32_t n) { return ef_kvq_tok_used(kv, n); }

int64_t ef_kvi_layer_rows(const ef_kv_cache *kv, int32_t il, int32_t n_tokens) {
    const int32_t ring = kv->layer_ring[il];
    return ring > 0 && n_tokens > ring ? ring : n_tokens;
}

size_t ef_kvi_row_bytes(const ef_kv_cache *kv, int32_t which) { return which ? kv->v_row : kv->k_row; }

uint32_t ef_kvi_type(const ef_kv_cache *kv, int32_t which) {
    return which && kv->v_width ? kv->params.v_type : kv->params.k_type;
}

void ef_kvi_layout(const ef_kv_cache *kv, ef_kv_layout *out) {
    out->k_type = kv->params.k_type;
    out->v_type = ef_kvi_type(kv, 1);
    out->has_v = kv->v_width > 0;
    out->n_layer = kv->n_layer;
    out->n_ctx = kv->n_ctx;
    out->n_seq_max = kv->n_seq_max;
    out->page_rows = kv->page_rows;
    out->n_sinks = kv->n_sinks;
    out->k_width = kv->k_width;
    out->v_width = kv->v_width;
    out->layer_ring = kv->layer_ring;
}
