/* The decoder forward pass (llama, qwen2) over the reference CPU kernels.
 *
 * Per layer, for the n new tokens at positions n_past..n_past+n-1:
 *   xn = rmsnorm(x) · attn_norm
 *   q = xn·Wqᵀ (+bq); k, v = xn·Wkᵀ, xn·Wvᵀ (+bk, bv); rope(q), rope(k);
 *   k, v stored into the cache rows of their positions (as F16 or F32)
 *   x += flash_attention(q, K[0..], V[0..]) · Woᵀ
 *   x += (silu(xn'·Wgᵀ) * (xn'·Wuᵀ)) · Wdᵀ   with xn' = rmsnorm(x) · ffn_norm
 * then logits = rmsnorm(x) · output_norm · Woutᵀ. */
#include "exec/forward.h"

#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_ops.h"
#include "quant/types.h"

struct ef_exec {
    const ef_model *m;
    ef_mem_account *acct;  /* charged for everything below, also scratch grown later */
    int32_t n_ctx, n_batch;
    int32_t q_dim, kv_dim; /* n_head*head_dim, n_head_kv*head_dim */
    uint32_t kv_type;      /* EF_TYPE_F32 or EF_TYPE_F16 */
    size_t kv_elt;         /* bytes per cache element */
    void *k_cache;         /* [n_layer][n_ctx][kv_dim] of kv_type */
    void *v_cache;         /* [n_layer][n_ctx][kv_dim] of kv_type */
    float *x;              /* [n_batch][n_embd] residual stream */
    float *xn;             /* [n_batch][n_embd] normed input, then projection output */
    float *q;              /* [n_batch][q_dim] */
    float *k_new, *v_new;  /* [n_batch][kv_dim] this call's K, V before an F16 store; NULL for F32 */
    float *att;            /* [n_batch][q_dim] attention output, heads concatenated */
    float *gate, *up;      /* [n_batch][n_ff] */
    float *attn_partial;   /* [ef_cpu_flash_partial_floats(n_ctx, EF_FLASH_DECODE_MAX_TOK)] split-KV */
    float *attn_scratch;   /* [attn_workers][ef_cpu_flash_scratch_floats] per-worker flash scratch */
    int32_t attn_workers;  /* workers attn_scratch is sized for (grows with the pool) */
    float *wvec;           /* [max(n_embd, q_dim)] a norm weight or bias as F32 */
};

/* One buffer of n0*n1*n2 floats from the session's account. */
static ef_status alloc_floats(ef_mem_account *acct, float **out, uint64_t n0, uint64_t n1,
                              uint64_t n2, const char *what) {
    uint64_t n, bytes;
    if (!ef_mul_ok(n0, n1, &n) || !ef_mul_ok(n, n2, &n) || !ef_mul_ok(n, sizeof(float), &bytes) ||
        bytes > SIZE_MAX)
        return ef_err(EF_ERR_NO_MEMORY, "%s would need more than the address space", what);
    ef_status st = EF_OK;
    *out = ef_acct_alloc(acct, (size_t)bytes, what, &st);
    return *out ? EF_OK : st;
}

/* The attention shape of the model (n_tok, n_past filled per call). */
static ef_attn_shape model_attn_shape(const ef_hparams *hp, int32_t n_tok, int32_t n_past) {
    const ef_attn_shape s = {n_tok, n_past, hp->n_head, hp->n_head_kv, hp->head_dim};
    return s;
}

/* One cache buffer: n_layer*n_ctx*kv_dim elements of elt bytes. */
static ef_status alloc_cache(ef_mem_account *acct, void **out, const ef_exec *e, const char *what) {
    uint64_t n, bytes;
    if (!ef_mul_ok((uint64_t)e->m->hp.n_layer, (uint64_t)e->n_ctx, &n) ||
        !ef_mul_ok(n, (uint64_t)e->kv_dim, &n) || !ef_mul_ok(n, e->kv_elt, &bytes) || bytes > SIZE_MAX)
        return ef_err(EF_ERR_NO_MEMORY, "%s would need more than the address space", what);
    ef_status st = EF_OK;
    *out = ef_acct_alloc(acct, (size_t)bytes, what, &st);
    return *out ? EF_OK : st;
}

ef_status ef_exec_create_kv(const ef_model *m, int32_t n_ctx, int32_t n_batch, uint32_t kv_type,
                            ef_mem_account *acct, ef_exec **out) {
    *out = NULL;
    if (!m || !acct || n_ctx < 1 || n_batch < 1)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_create: need a model, an account, n_ctx ≥ 1 and n_batch ≥ 1");
    if (kv_type != EF_TYPE_F32 && kv_type != EF_TYPE_F16)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_create: KV-cache type %u is not F32 or F16", (unsigned)kv_type);
    if (n_batch > n_ctx) n_batch = n_ctx;
    const ef_hparams *hp = &m->hp;
    ef_status st = EF_OK;
    ef_exec *e = ef_acct_alloc(acct, sizeof *e, "the execution state", &st);
    if (!e) return st;
    e->m = m;
    e->acct = acct;
    e->n_ctx = n_ctx;
    e->n_batch = n_batch;
    e->q_dim = hp->n_head * hp->head_dim;
    e->kv_dim = hp->n_head_kv * hp->head_dim;
    e->kv_type = kv_type;
    e->kv_elt = kv_type == EF_TYPE_F16 ? sizeof(uint16_t) : sizeof(float);
    const uint64_t nb = (uint64_t)n_batch;
    const uint64_t wvec = (uint64_t)(hp->n_embd > e->q_dim ? hp->n_embd : e->q_dim);
    const ef_attn_shape shape = model_attn_shape(hp, 1, 0);
    const uint64_t partial = ef_cpu_flash_partial_floats(&shape, n_ctx, EF_FLASH_DECODE_MAX_TOK);

    st = alloc_cache(acct, &e->k_cache, e, "the K cache");
    if (!st) st = alloc_cache(acct, &e->v_cache, e, "the V cache");
    if (!st) st = alloc_floats(acct, &e->x, nb, (uint64_t)hp->n_embd, 1, "the residual stream");
    if (!st) st = alloc_floats(acct, &e->xn, nb, (uint64_t)hp->n_embd, 1, "the normed activations");
    if (!st) st = alloc_floats(acct, &e->q, nb, (uint64_t)e->q_dim, 1, "the queries");
    if (!st && kv_type != EF_TYPE_F32) {
        st = alloc_floats(acct, &e->k_new, nb, (uint64_t)e->kv_dim, 1, "the new keys");
        if (!st) st = alloc_floats(acct, &e->v_new, nb, (uint64_t)e->kv_dim, 1, "the new values");
    }
    if (!st) st = alloc_floats(acct, &e->att, nb, (uint64_t)e->q_dim, 1, "the attention output");
    if (!st) st = alloc_floats(acct, &e->gate, nb, (uint64_t)hp->n_ff, 1, "the FFN gate");
    if (!st) st = alloc_floats(acct, &e->up, nb, (uint64_t)hp->n_ff, 1, "the FFN up projection");
    if (!st) st = alloc_floats(acct, &e->attn_partial, partial, 1, 1, "the split-KV attention partials");
    if (!st) st = alloc_floats(acct, &e->attn_scratch, ef_cpu_flash_scratch_floats(&shape), 1, 1,
                               "the attention scratch");
    if (!st) e->attn_workers = 1;
    if (!st) st = alloc_floats(acct, &e->wvec, wvec, 1, 1, "the weight vector scratch");
    if (st) {
        ef_exec_free(e, acct);
        return st;
    }
    *out = e;
    return EF_OK;
}

ef_status ef_exec_create(const ef_model *m, int32_t n_ctx, int32_t n_batch, ef_mem_account *acct,
                         ef_exec **out) {
    return ef_exec_create_kv(m, n_ctx, n_batch, EF_TYPE_F32, acct, out);
}

uint32_t ef_exec_kv_type(const ef_exec *e) { return e->kv_type; }

void ef_exec_free(ef_exec *e, ef_mem_account *acct) {
    if (!e) return;
    void *bufs[] = {e->k_cache, e->v_cache, e->x, e->xn, e->q, e->k_new, e->v_new, e->att,
                    e->gate, e->up, e->attn_partial, e->attn_scratch, e->wvec};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) ef_acct_free(acct, bufs[i]);
    ef_acct_free(acct, e);
}

/* Sizes the per-worker attention scratch for the pool; keeps the old block
 * when a larger one cannot be had. */
static ef_status ensure_attn_scratch(ef_exec *e, ef_pool *pool) {
    const int32_t workers = ef_pool_size(pool);
    if (workers <= e->attn_workers) return EF_OK;
    const ef_attn_shape shape = model_attn_shape(&e->m->hp, 1, 0);
    float *bigger = NULL;
    ef_status st = alloc_floats(e->acct, &bigger, (uint64_t)workers, ef_cpu_flash_scratch_floats(&shape), 1,
                                "the attention scratch");
    if (st) return st;
    ef_acct_free(e->acct, e->attn_scratch);
    e->attn_scratch = bigger;
    e->attn_workers = workers;
    return EF_OK;
}

/* y[n][dim] = rmsnorm(x) · w, converting the norm weight first. */
static void norm(ef_exec *e, const ef_tensor *w, const float *x, int32_t n, float *y) {
    ef_cpu_tensor_to_f32(w, e->wvec);
    ef_cpu_rmsnorm(x, e->wvec, n, e->m->hp.n_embd, e->m->hp.norm_eps, y);
}

/* y[n][out] = x · Wᵀ + b (b optional). */
static void project(ef_exec *e, ef_pool *pool, const ef_tensor *w, const ef_tensor *b,
                    const float *x, int32_t n, float *y) {
    ef_cpu_matmul(pool, w, x, n, y);
    if (b) {
        ef_cpu_tensor_to_f32(b, e->wvec);
        ef_cpu_add_bias(y, e->wvec, n, (int32_t)w->ne[1]);
    }
}

/* Cache rows n_past .. n_past+n-1 of layer il ← src ([n][kv_dim] F32). */
static void store_kv(const ef_exec *e, void *cache, int32_t il, int32_t n_past, int32_t n, const float *src) {
    const int64_t first = ((int64_t)il * e->n_ctx + n_past) * e->kv_dim; /* element index */
    const int64_t count = (int64_t)n * e->kv_dim;
    uint16_t *dst = (uint16_t *)cache + first; /* [n][kv_dim] F16 */
    for (int64_t i = 0; i < count; i++) dst[i] = ef_f32_to_f16(src[i]);
}

static void attention_block(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const ef_layer *l = &m->layers[il];
    const int32_t qwen = m->arch == EF_ARCH_QWEN2; /* only qwen2 uses q/k/v biases */
    const int64_t layer_off = (int64_t)il * e->n_ctx * e->kv_dim;            /* elements */
    const int32_t f32 = e->kv_type == EF_TYPE_F32;
    /* F32: project straight into the cache rows; F16: into k_new/v_new, then round. */
    float *k_new = f32 ? (float *)e->k_cache + layer_off + (int64_t)n_past * e->kv_dim : e->k_new; /* [n][kv_dim] */
    float *v_new = f32 ? (float *)e->v_cache + layer_off + (int64_t)n_past * e->kv_dim : e->v_new; /* [n][kv_dim] */

    norm(e, l->attn_norm, e->x, n, e->xn);
    project(e, pool, l->wq, qwen ? l->bq : NULL, e->xn, n, e->q);
    project(e, pool, l->wk, qwen ? l->bk : NULL, e->xn, n, k_new);
    project(e, pool, l->wv, qwen ? l->bv : NULL, e->xn, n, v_new);

    const ef_rope_params rope = {hp->rope_mode, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale,
                                 m->rope_factors};
    ef_cpu_rope(e->q, n, hp->n_head, hp->head_dim, n_past, &rope);
    ef_cpu_rope(k_new, n, hp->n_head_kv, hp->head_dim, n_past, &rope);
    if (!f32) {
        store_kv(e, e->k_cache, il, n_past, n, k_new);
        store_kv(e, e->v_cache, il, n_past, n, v_new);
    }

    const ef_attn_shape shape = model_attn_shape(hp, n, n_past);
    const ef_kv_view kv = {e->kv_type, (const char *)e->k_cache + layer_off * (int64_t)e->kv_elt,
                           (const char *)e->v_cache + layer_off * (int64_t)e->kv_elt}; /* [n_ctx][kv_dim] */
    ef_cpu_flash_attn(pool, &shape, e->q, &kv, e->attn_scratch, e->attn_partial, e->att);
    project(e, pool, l->wo, NULL, e->att, n, e->xn);
    ef_cpu_add(e->x, e->xn, (int64_t)n * hp->n_embd);
}

static void ffn_block(ef_exec *e, ef_pool *pool, int32_t il, int32_t n) {
    const ef_hparams *hp = &e->m->hp;
    const ef_layer *l = &e->m->layers[il];
    norm(e, l->ffn_norm, e->x, n, e->xn);
    project(e, pool, l->ffn_gate, NULL, e->xn, n, e->gate);
    project(e, pool, l->ffn_up, NULL, e->xn, n, e->up);
    ef_cpu_swiglu(e->gate, e->up, e->gate, (int64_t)n * hp->n_ff);
    project(e, pool, l->ffn_down, NULL, e->gate, n, e->xn);
    ef_cpu_add(e->x, e->xn, (int64_t)n * hp->n_embd);
}

ef_status ef_exec_forward(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n_tokens,
                          int32_t n_past, int32_t all_logits, float *logits,
                          const atomic_int *cancel) {
    if (!e || !tokens || !logits)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_forward: missing state, tokens or logits buffer");
    if (n_tokens < 1 || n_tokens > e->n_batch)
        return ef_err(EF_ERR_INVALID_ARG, "ef_exec_forward: %d tokens, expected 1..%d (n_batch)",
                      (int)n_tokens, (int)e->n_batch);
    if (n_past < 0 || n_past > e->n_ctx - n_tokens)
        return ef_err(EF_ERR_CONTEXT_FULL, "%d cached + %d new tokens exceed the context of %d",
                      (int)n_past, (int)n_tokens, (int)e->n_ctx);
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    ef_status st = ensure_attn_scratch(e, pool);
    if (st) return st;

    ef_cpu_get_rows(m->tok_embd, tokens, n_tokens, e->x);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        if (cancel && atomic_load(cancel))
            return ef_err(EF_ERR_CANCELLED, "the forward pass was cancelled at layer %d", (int)il);
        attention_block(e, pool, il, n_tokens, n_past);
        ffn_block(e, pool, il, n_tokens);
    }

    /* Only the rows whose logits are wanted go through the output head. */
    int32_t first = all_logits ? 0 : n_tokens - 1;
    int32_t n_out = n_tokens - first;
    norm(e, m->output_norm, e->x + (int64_t)first * hp->n_embd, n_out, e->xn);
    ef_cpu_matmul(pool, m->output, e->xn, n_out, logits);
    return EF_OK;
}
