/* The decoder forward pass (llama, qwen2) over the reference CPU kernels.
 *
 * Per layer, for the n new tokens at positions n_past..n_past+n-1:
 *   xn = rmsnorm(x) · attn_norm
 *   q = xn·Wqᵀ (+bq); k, v = xn·Wkᵀ, xn·Wvᵀ (+bk, bv); rope(q), rope(k);
 *   k, v stored into the cache rows of their positions (as F16 or F32)
 *   x += attention(q, K[0..], V[0..]) · Woᵀ   (the tiled ef_cpu_attn_ext: causal, window, sinks)
 *   x += (silu(xn'·Wgᵀ) * (xn'·Wuᵀ)) · Wdᵀ   with xn' = rmsnorm(x) · ffn_norm
 * then logits = rmsnorm(x) · output_norm · Woutᵀ. */
#include "exec/forward.h"
#include "exec/exec_internal.h"
#include "exec/exec_backend.h"
#include "exec/forward_device.h"

#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_ops.h"
#include "cpu/matmul_kernels.h"
#include "cpu/mla_ops.h"
#include "quant/types.h"

/* One buffer of n0*n1*n2 floats from the session's account. */
ef_status ef_exec_alloc_floats(ef_mem_account *acct, float **out, uint64_t n0, uint64_t n1,
                               uint64_t n2, const char *what) {
    uint64_t n, bytes;
    if (!ef_mul_ok(n0, n1, &n) || !ef_mul_ok(n, n2, &n) || !ef_mul_ok(n, sizeof(float), &bytes) ||
        bytes > SIZE_MAX)
        return ef_err(EF_ERR_NO_MEMORY, "%s would need more than the address space", what);
    ef_status st = EF_OK;
    *out = ef_acct_alloc(acct, (size_t)bytes, what, &st);
    return *out ? EF_OK : st;
}
#define alloc_floats ef_exec_alloc_floats

static int32_t max3(int32_t a, int32_t b, int32_t c) {
    int32_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* Per-layer windows and cache rows: window layers get a ring of
 * sinks + window + n_batch − 1 rows (enough that a call's new rows never
 * overwrite a position one of its queries still sees) when that is below
 * n_ctx. Fills layer_window/ring/off and returns the total rows. */
/* How a paged exec differs (ef_exec_create_paged); NULL for an exec with its own cache. */
typedef struct paged_opts {
    const int32_t *layer_ring; /* [n_layer] the cache's ring rows, or NULL: the plan's */
} paged_opts;

static ef_status plan_layers(ef_exec *e, const ef_exec_opts *o, const paged_opts *pg, uint64_t *total_rows) {
    const ef_hparams *hp = &e->m->hp;
    const int32_t L = hp->n_layer;
    ef_status st = EF_OK;
    e->layer_window = ef_acct_alloc(e->acct, sizeof(int32_t) * (size_t)L, "the layer windows", &st);
    if (!st) e->layer_ring = ef_acct_alloc(e->acct, sizeof(int32_t) * (size_t)L, "the layer rings", &st);
    if (!st) e->layer_off = ef_acct_alloc(e->acct, sizeof(int64_t) * (size_t)L, "the layer offsets", &st);
    if (st) return st;
    e->n_sinks = o->sinks >= 0 ? o->sinks : hp->n_sinks;
    uint64_t rows = 0;
    int32_t n_ring = 0;
    for (int32_t il = 0; il < L; il++) {
        int32_t w = e->m->layers[il].n_swa;
        if (o->window >= 0 && (w > 0 || (hp->n_swa == 0 && o->window > 0))) w = o->window;
        e->layer_window[il] = w;
        int64_t ring = w > 0 ? (int64_t)e->n_sinks + w + e->n_batch - 1 : 0;
        if (o->full_cache || ring >= e->n_ctx) ring = 0;
        if (pg && pg->layer_ring) ring = pg->layer_ring[il]; /* the attached cache's layout */
        if (pg && ring > 0 && w > 0 && e->n_batch > ring - e->n_sinks - w + 1)
            e->n_batch = (int32_t)(ring - e->n_sinks - w + 1); /* a call's new rows must not overwrite what it reads */
        e->layer_ring[il] = (int32_t)ring;
        n_ring += ring > 0;
        uint64_t off;
        if (!ef_mul_ok(rows, (uint64_t)e->kv_dim, &off))
            return ef_err(EF_ERR_NO_MEMORY, "the KV cache would need more than the address space");
        e->layer_off[il] = (int64_t)off;
        rows += ring > 0 ? (uint64_t)ring : (uint64_t)e->n_ctx;
    }
    e->unbounded = n_ring == L;
    *total_rows = rows;
    return EF_OK;
}

/* One cache buffer: total_rows*kv_dim elements of elt bytes. */
static ef_status alloc_cache(ef_mem_account *acct, void **out, const ef_exec *e, uint64_t total_rows,
                             const char *what) {
    uint64_t n, bytes;
    if (!ef_mul_ok(total_rows, (uint64_t)e->kv_dim, &n) || !ef_mul_ok(n, e->kv_elt, &bytes) || bytes > SIZE_MAX)
        return ef_err(EF_ERR_NO_MEMORY, "%s would need more than the address space", what);
    ef_status st = EF_OK;
    *out = ef_acct_alloc(acct, (size_t)bytes, what, &st);
    return *out ? EF_OK : st;
}

static ef_status create_once(const ef_model *m, const ef_exec_opts *o, const paged_opts *pg, int32_t n_batch,
                             ef_mem_account *acct, ef_exec **out) {
    const int32_t n_ctx = o->n_ctx;
    const uint32_t kv_type = o->kv_type;
    const ef_hparams *hp = &m->hp;
    ef_status st = EF_OK;
    ef_exec *e = ef_acct_alloc(acct, sizeof *e, "the execution state", &st);
    if (!e) return st;
    e->m = m;
    e->acct = acct;
    e->n_ctx = n_ctx;
    e->n_batch = n_batch;
    e->mla_mode = o->mla_mode;
    const int mla = hp->attn_kind == EF_ATTN_MLA;
    e->q_dim = hp->n_head * hp->head_dim;
    e->kv_dim = mla ? hp->kv_lora_rank + hp->qk_rope_dim : hp->n_head_kv * hp->head_dim;
    e->att_dim = mla ? hp->n_head * hp->v_head_dim : e->q_dim;
    e->wvec_len = max3(max3(hp->n_embd, e->q_dim, hp->kv_lora_rank), hp->q_lora_rank, hp->n_expert);
    const int32_t n_ff = max3(hp->n_ff, hp->n_ff_exp, hp->n_ff_exp * hp->n_expert_shared);
    e->kv_type = kv_type;
    e->kv_elt = kv_type == EF_TYPE_F16 ? sizeof(uint16_t) : sizeof(float);
    const uint64_t nb = (uint64_t)n_batch;
    uint64_t rows = 0;
    st = plan_layers(e, o, pg, &rows);
    if (pg) rows = 0; /* paged: the rows live in the bound ef_kv_cache */
    int32_t any_window = 0, any_full = 0;
    for (int32_t il = 0; !st && il < hp->n_layer; il++) {
        any_window |= e->layer_window[il] > 0;
        any_full |= e->layer_window[il] == 0;
    }
    /* every layer runs the tiled ef_cpu_attn_ext (full-causal ones with window 0);
     * MLA runs it through forward_mla.c */

    if (!st && !pg) st = alloc_cache(acct, &e->k_cache, e, rows, "the K cache");
    if (!st && !mla && !pg) st = alloc_cache(acct, &e->v_cache, e, rows, "the V cache");
    if (!st) st = alloc_floats(acct, &e->x, nb, (uint64_t)hp->n_embd, 1, "the residual stream");
    if (!st) st = alloc_floats(acct, &e->xn, nb, (uint64_t)hp->n_embd, 1, "the normed activations");
    if (!st) st = alloc_floats(acct, &e->q, nb, (uint64_t)e->q_dim, 1, "the queries");
    if (!st && (kv_type != EF_TYPE_F32 || any_window || pg) && !mla) {
        st = alloc_floats(acct, &e->k_new, nb, (uint64_t)e->kv_dim, 1, "the new keys");
        if (!st) st = alloc_floats(acct, &e->v_new, nb, (uint64_t)e->kv_dim, 1, "the new values");
    }
    if (!st) st = alloc_floats(acct, &e->att, nb, (uint64_t)e->att_dim, 1, "the attention output");
    if (!st) st = alloc_floats(acct, &e->gate, nb, (uint64_t)n_ff, 1, "the FFN gate");
    if (!st) st = alloc_floats(acct, &e->up, nb, (uint64_t)n_ff, 1, "the FFN up projection");
    if (!st) e->attn_workers = 1;
    if (!st) st = alloc_floats(acct, &e->wvec, (uint64_t)e->wvec_len, 1, 1, "the weight vector scratch");
    if (!st && mla) st = ef_mla_alloc(e);
    if (!st && hp->n_expert > 0) st = ef_moe_alloc(e);
    if (!st && !mla && (any_window || any_full)) {
        const ef_attn_ext win = {.n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .dk = hp->head_dim,
                                 .dv = hp->head_dim};
        e->ext_floats = (int32_t)ef_cpu_attn_ext_scratch_floats(&win);
    }
    if (!st && e->ext_floats > 0)
        st = alloc_floats(acct, &e->ext_scratch, (uint64_t)e->ext_floats, 1, 1, "the attention scratch");
    if (st) {
        ef_exec_free(e, acct);
        return st;
    }
    *out = e;
    return EF_OK;
}

static ef_status create_exec(const ef_model *m, const ef_exec_opts *o, const paged_opts *pg, ef_mem_account *acct,
                             ef_exec **out) {
    *out = NULL;
    if (!m || !o || !acct || o->n_ctx < 1 || o->n_batch < 1)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_create: need a model, an account, n_ctx ≥ 1 and n_batch ≥ 1");
    if (o->kv_type != EF_TYPE_F32 && o->kv_type != EF_TYPE_F16)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_create: KV-cache type %u is not F32 or F16", (unsigned)o->kv_type);
    int32_t n_batch = o->n_batch > o->n_ctx ? o->n_ctx : o->n_batch;
    for (;;) {
        ef_status st = create_once(m, o, pg, n_batch, acct, out);
        if (st != EF_ERR_BUDGET || acct->budget == 0) return st;
        if (n_batch == 1) break;
        n_batch /= 2; /* a smaller prefill chunk: less scratch (and a smaller ring) */
    }
    /* Not even one token per chunk fits: measure what it would take. */
    ef_mem_account probe = {0};
    ef_exec *trial = NULL;
    ef_status st = create_once(m, o, pg, 1, &probe, &trial);
    const uint64_t need = acct->used + probe.peak;
    ef_exec_free(trial, &probe);
    if (st)
        return ef_err(EF_ERR_BUDGET,
                      "memory budget of %llu bytes is too small: a context of %d needs more than this machine "
                      "could allocate even with a 1-token prefill chunk",
                      (unsigned long long)acct->budget, (int)o->n_ctx);
    return ef_err(EF_ERR_BUDGET,
                  "memory budget of %llu bytes is too small: a context of %d with the smallest prefill chunk "
                  "(1 token) needs at least %llu bytes for the KV cache, scratch and activations",
                  (unsigned long long)acct->budget, (int)o->n_ctx, (unsigned long long)need);
}

ef_status ef_exec_create_opts(const ef_model *m, const ef_exec_opts *o, ef_mem_account *acct, ef_exec **out) {
    return create_exec(m, o, NULL, acct, out);
}

ef_status ef_exec_create_paged(const ef_model *m, const ef_exec_opts *o, const int32_t *layer_ring,
                               ef_mem_account *acct, ef_exec **out) {
    const paged_opts pg = {layer_ring};
    return create_exec(m, o, &pg, acct, out);
}

ef_status ef_exec_create_kv(const ef_model *m, int32_t n_ctx, int32_t n_batch, uint32_t kv_type,
                            ef_mem_account *acct, ef_exec **out) {
    const ef_exec_opts o = {n_ctx, n_batch, kv_type, EF_MLA_AUTO, 0, -1, -1};
    return ef_exec_create_opts(m, &o, acct, out);
}

int32_t ef_exec_n_batch(const ef_exec *e) { return e->n_batch; }

ef_status ef_exec_create(const ef_model *m, int32_t n_ctx, int32_t n_batch, ef_mem_account *acct,
                         ef_exec **out) {
    return ef_exec_create_kv(m, n_ctx, n_batch, EF_TYPE_F32, acct, out);
}

uint32_t ef_exec_kv_type(const ef_exec *e) { return e->kv_type; }

void ef_exec_set_mla_mode(ef_exec *e, int32_t mode) {
    if (e && mode >= EF_MLA_AUTO && mode <= EF_MLA_EXPANDED) e->mla_mode = mode;
}

void ef_exec_set_matmul_mode(ef_exec *e, int32_t mode) {
    if (e) e->matmul_mode = mode;
}

int32_t ef_exec_matmul_mode(const ef_exec *e) { return e ? e->matmul_mode : 0; }

uint64_t ef_exec_kv_bytes_per_token(const ef_exec *e) {
    const uint64_t per_layer = e->kv ? ef_exec_kv_row_bytes(e) : (uint64_t)e->kv_dim * e->kv_elt * (e->v_cache ? 2u : 1u);
    uint64_t growing = 0; /* ring layers stop growing at their window */
    for (int32_t il = 0; il < e->m->hp.n_layer; il++) growing += e->layer_ring[il] == 0;
    return per_layer * growing;
}

uint64_t ef_exec_kv_bytes(const ef_exec *e, int64_t n_tokens) {
    const uint64_t per_row = e->kv ? ef_exec_kv_row_bytes(e) : (uint64_t)e->kv_dim * e->kv_elt * (e->v_cache ? 2u : 1u);
    uint64_t total = 0;
    for (int32_t il = 0; il < e->m->hp.n_layer; il++) {
        const int64_t ring = e->layer_ring[il];
        total += per_row * (uint64_t)(ring > 0 && n_tokens > ring ? ring : n_tokens);
    }
    return total;
}

void ef_exec_free(ef_exec *e, ef_mem_account *acct) {
    if (!e) return;
    ef_ffn_sparse_free(e);
    void *bufs[] = {e->k_cache, e->v_cache, e->x, e->xn, e->q, e->k_new, e->v_new, e->att,
                    e->gate, e->up, e->wvec,
                    e->q_lat, e->kv_a, e->q_abs, e->o_lat, e->h_in, e->h_out, e->exp_tmp, e->k_exp, e->v_exp, e->ext_scratch,
                    e->router, e->sel_prob, e->sel_idx, e->sel_w, e->rows, e->row_w, e->xg,
                    e->moe_out, e->moe_acc, e->layer_window, e->layer_ring, e->layer_off};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) ef_acct_free(acct, bufs[i]);
    ef_acct_free(acct, e);
}

/* Sizes the per-worker attention scratch for the pool; keeps the old block
 * when a larger one cannot be had. */
static ef_status ensure_attn_scratch(ef_exec *e, ef_pool *pool) {
    const int32_t workers = ef_pool_size(pool);
    if (workers <= e->attn_workers) return EF_OK;
    if (e->ext_floats > 0) {
        float *ext = NULL;
        const ef_status st =
            alloc_floats(e->acct, &ext, (uint64_t)workers, (uint64_t)e->ext_floats, 1, "the attention scratch");
        if (st) return st;
        ef_acct_free(e->acct, e->ext_scratch);
        e->ext_scratch = ext;
    }
    e->attn_workers = workers;
    return EF_OK;
}

void ef_exec_norm(ef_exec *e, const ef_tensor *w, const float *x, int32_t n, int32_t dim, float *y) {
    ef_cpu_tensor_to_f32(w, e->wvec);
    ef_cpu_rmsnorm(x, e->wvec, n, dim, e->m->hp.norm_eps, y);
}

/* y[n][n_embd] = rmsnorm(x) · w, converting the norm weight first. */
static void norm(ef_exec *e, const ef_tensor *w, const float *x, int32_t n, float *y) {
    ef_exec_norm(e, w, x, n, e->m->hp.n_embd, y);
}

#define project ef_exec_project
void ef_exec_project(ef_exec *e, ef_pool *pool, const ef_tensor *w, const ef_tensor *b,
                     const float *x, int32_t n, float *y) {
    if (!e->backend || !ef_exec_backend_matmul(e->backend, w, x, n, y))
        ef_cpu_matmul_mode(pool, (ef_matmul_mode)e->matmul_mode, w, x, n, y);
    if (b) {
        ef_cpu_tensor_to_f32(b, e->wvec);
        ef_cpu_add_bias(y, e->wvec, n, (int32_t)w->ne[1]);
    }
}

void ef_exec_store_rows(const ef_exec *e, void *cache, int32_t il, int32_t pos0, int32_t n, const float *src) {
    char *layer = ef_exec_cache_layer(e, cache, il);
    for (int32_t t = 0; t < n; t++) {
        const int64_t row = ef_attn_ring_row((int64_t)pos0 + t, e->layer_ring[il], e->n_sinks);
        const float *s = src + (int64_t)t * e->kv_dim; /* [kv_dim] */
        if (e->kv_type == EF_TYPE_F32) {
            memcpy((float *)layer + row * e->kv_dim, s, sizeof(float) * (size_t)e->kv_dim);
        } else {
            uint16_t *d = (uint16_t *)layer + row * e->kv_dim;
            for (int32_t i = 0; i < e->kv_dim; i++) d[i] = ef_f32_to_f16(s[i]);
        }
    }
}

/* att[n][q_dim] = softmax(q·Kᵀ·scale, causal, and windowed in window
 * layers)·V over the cache rows of layer il, with the tiled kernel
 * (ef_cpu_attn_ext): full-causal layers are window 0. */
void ef_exec_attend(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past, ef_kv_rows k_rows,
                    ef_kv_rows v_rows) {
    const ef_hparams *hp = &e->m->hp;
    const ef_attn_ext a = {.n_tok = n, .n_past = n_past, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
                           .dk = hp->head_dim, .dv = hp->head_dim, .scale = hp->kq_scale,
                           .window = e->layer_window[il], .n_sinks = e->n_sinks, .ring_rows = e->layer_ring[il],
                           .k = k_rows, .v = v_rows};
    ef_cpu_attn_ext(pool, &a, e->q, e->ext_scratch, e->att);
}

static ef_status attention_block(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const ef_layer *l = &m->layers[il];
    const int32_t qwen = m->arch == EF_ARCH_QWEN2; /* only qwen2 uses q/k/v biases */
    const int32_t window = e->layer_window[il];
    /* F32 full cache: project straight into the cache rows; else into k_new/v_new, then store. */
    const int32_t direct = e->kv_type == EF_TYPE_F32 && window == 0 && !e->kv;
    float *k_new = direct ? (float *)ef_exec_cache_layer(e, e->k_cache, il) + (int64_t)n_past * e->kv_dim : e->k_new; /* [n][kv_dim] */
    float *v_new = direct ? (float *)ef_exec_cache_layer(e, e->v_cache, il) + (int64_t)n_past * e->kv_dim : e->v_new; /* [n][kv_dim] */

    norm(e, l->attn_norm, e->x, n, e->xn);
    project(e, pool, l->wq, qwen ? l->bq : NULL, e->xn, n, e->q);
    project(e, pool, l->wk, qwen ? l->bk : NULL, e->xn, n, k_new);
    project(e, pool, l->wv, qwen ? l->bv : NULL, e->xn, n, v_new);

    const ef_rope_params rope = {hp->rope_mode, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale,
                                 m->rope_factors};
    ef_cpu_rope(e->q, n, hp->n_head, hp->head_dim, n_past, &rope);
    ef_cpu_rope(k_new, n, hp->n_head_kv, hp->head_dim, n_past, &rope);
    if (e->kv) { /* paged cache (exec_kv.c) */
        ef_status st = ef_exec_kv_write(e, il, n_past, n, k_new, v_new);
        if (st) return st;
    } else if (!direct) {
        ef_exec_store_rows(e, e->k_cache, il, n_past, n, k_new);
        ef_exec_store_rows(e, e->v_cache, il, n_past, n, v_new);
    }

    const void *k_page, *v_page;
    const ef_kv_rows k_rows = ef_exec_kv_rows(e, il, 0, &k_page); /* [n_ctx or ring][kv_dim] */
    const ef_kv_rows v_rows = ef_exec_kv_rows(e, il, 1, &v_page); /* [n_ctx or ring][kv_dim] */
    ef_exec_attend(e, pool, il, n, n_past, k_rows, v_rows);
    project(e, pool, l->wo, NULL, e->att, n, e->xn);
    ef_cpu_add(e->x, e->xn, (int64_t)n * hp->n_embd);
    return EF_OK;
}

static void ffn_block(ef_exec *e, ef_pool *pool, int32_t il, int32_t n) {
    const ef_hparams *hp = &e->m->hp;
    const ef_layer *l = &e->m->layers[il];
    norm(e, l->ffn_norm, e->x, n, e->xn);
    if (ef_ffn_sparse_decode(e, pool, il, n)) return; /* decode with sparsity on (ffn_sparse.c) */
    project(e, pool, l->ffn_gate, NULL, e->xn, n, e->gate);
    project(e, pool, l->ffn_up, NULL, e->xn, n, e->up);
    ef_ffn_activate(e, il, n); /* silu (or relu) (gate) * up */
    project(e, pool, l->ffn_down, NULL, e->gate, n, e->xn);
    ef_cpu_add(e->x, e->xn, (int64_t)n * hp->n_embd);
}

/* One call of at most n_batch tokens. */
static ef_status forward_chunk(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n_tokens, int32_t n_past,
                               int32_t all_logits, float *logits, const atomic_int *cancel) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    ef_status st = EF_OK;
    int32_t on_device = 0; /* the whole chunk on a plugin backend (forward_device.c) */
    if (e->backend) st = ef_fwd_device_chunk(e, pool, tokens, n_tokens, n_past, all_logits, logits, cancel, &on_device);
    if (on_device) return st;
    ef_cpu_get_rows(m->tok_embd, tokens, n_tokens, e->x);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        if (cancel && atomic_load(cancel))
            return ef_err(EF_ERR_CANCELLED, "the forward pass was cancelled at layer %d", (int)il);
        if (hp->attn_kind == EF_ATTN_MLA) {
            st = ef_mla_attention(e, pool, il, n_tokens, n_past);
            if (st) return st;
        } else {
            st = attention_block(e, pool, il, n_tokens, n_past);
            if (st) return st;
        }
        if (m->layers[il].is_moe)
            ef_moe_ffn(e, pool, il, n_tokens);
        else
            ffn_block(e, pool, il, n_tokens);
    }

    /* Only the rows whose logits are wanted go through the output head. */
    int32_t first = all_logits ? 0 : n_tokens - 1;
    int32_t n_out = n_tokens - first;
    norm(e, m->output_norm, e->x + (int64_t)first * hp->n_embd, n_out, e->xn);
    if (!e->backend || !ef_exec_backend_matmul(e->backend, m->output, e->xn, n_out, logits))
        ef_cpu_matmul_mode(pool, (ef_matmul_mode)e->matmul_mode, m->output, e->xn, n_out, logits);
    return EF_OK;
}

ef_status ef_exec_forward(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n_tokens,
                          int32_t n_past, int32_t all_logits, float *logits,
                          const atomic_int *cancel) {
    if (!e || !tokens || !logits)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_forward: missing state, tokens or logits buffer");
    if (n_tokens < 1)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_forward: %d tokens, expected at least 1", (int)n_tokens);
    if (n_past < 0 || (!e->unbounded && n_past > e->n_ctx - n_tokens) || n_past > INT32_MAX - n_tokens)
        return ef_err(EF_ERR_CONTEXT_FULL, "%d cached + %d new tokens exceed the context of %d",
                      (int)n_past, (int)n_tokens, (int)e->n_ctx);
    if (!e->k_cache && !e->kv)
        return ef_err(EF_ERR_STATE, "ef_exec_forward: a paged exec has no KV cache bound (ef_exec_bind_kv)");
    ef_status st = ensure_attn_scratch(e, pool);
    if (st) return st;
    const int64_t n_vocab = e->m->hp.n_vocab;
    /* Longer calls run in chunks of n_batch (the chunk the memory allowed). */
    for (int32_t done = 0; done < n_tokens;) {
        const int32_t n = n_tokens - done < e->n_batch ? n_tokens - done : e->n_batch;
        const int32_t last = done + n == n_tokens;
        if (all_logits || last) {
            st = forward_chunk(e, pool, tokens + done, n, n_past + done, all_logits,
                               all_logits ? logits + (int64_t)done * n_vocab : logits, cancel);
        } else {
            /* rows nobody reads: run for the cache, write the last logit row into logits as scratch */
            st = forward_chunk(e, pool, tokens + done, n, n_past + done, 0, logits, cancel);
        }
        if (st) return st;
        done += n;
    }
    return EF_OK;
}
