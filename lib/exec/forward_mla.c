/* Multi-head Latent Attention (DeepSeek-V2, specs.md §1) for one layer.
 *
 * Per new token (h: hidden after attn_norm; H heads; nope/rope/v head dims):
 *   q = (rmsnorm(h·Wq_aᵀ)·q_a_norm)·Wq_bᵀ  or  h·Wqᵀ         [H][nope+rope]
 *   [c_kv ‖ k_pe] = h·Wkv_a_mqaᵀ; c_kv = rmsnorm(c_kv)·kv_a_norm  [kv_lora], [rope]
 *   rope(q_pe), rope(k_pe) (adjacent pairs); the cache row ← [c_kv ‖ k_pe]
 * Absorbed (decode): q'_h = [q_nope_h·W_UK_h ‖ q_pe_h]; attention over the
 *   cache rows as one shared K head of kv_lora+rope with V = c_kv; then
 *   o_h = o_lat_h·W_UV_hᵀ. The cache is never expanded.
 * Expanded: k_h = [W_UK_h c_kv ‖ k_pe], v_h = W_UV_h c_kv for every cached
 *   token, then plain attention with heads of nope+rope / v.
 * Both score with kq_scale = mscale² / sqrt(nope+rope); x += o·Woᵀ.
 * W_UK/W_UV come from attn_k_b {nope, kv_lora, H} / attn_v_b {kv_lora, v, H},
 * or from the legacy attn_kv_b {kv_lora, H·(nope+v)} (rows per head: nope
 * key rows, then v value rows). */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_ops.h"
#include "cpu/mla_ops.h"
#include "exec/exec_internal.h"
#include "quant/types.h"

static int32_t max2(int32_t a, int32_t b) { return a > b ? a : b; }

int32_t ef_mla_ext_floats(const ef_exec *e) {
    const ef_hparams *hp = &e->m->hp;
    const int32_t lat = hp->kv_lora_rank, dk = hp->qk_nope_dim + hp->qk_rope_dim, dv = hp->v_head_dim;
    /* windowed absorbed: H heads over one shared head of lat + rope */
    const ef_attn_ext absorbed = {.n_head = hp->n_head, .n_head_kv = 1, .dk = lat + hp->qk_rope_dim,
                                  .dv = lat + hp->qk_rope_dim};
    const ef_attn_ext expanded = {.n_head = hp->n_head, .n_head_kv = hp->n_head, .dk = dk, .dv = dv};
    const int64_t attn = ef_cpu_attn_ext_scratch_floats(&absorbed) > ef_cpu_attn_ext_scratch_floats(&expanded)
                             ? ef_cpu_attn_ext_scratch_floats(&absorbed)
                             : ef_cpu_attn_ext_scratch_floats(&expanded);
    return max2((int32_t)attn, max2(lat, hp->qk_nope_dim)); /* also ef_cpu_matmul_t rows */
}

ef_status ef_mla_alloc(ef_exec *e) {
    const ef_hparams *hp = &e->m->hp;
    const uint64_t nb = (uint64_t)e->n_batch, H = (uint64_t)hp->n_head;
    const int32_t lat = hp->kv_lora_rank, rope = hp->qk_rope_dim;
    const uint64_t head_max = (uint64_t)max2(max2(hp->qk_nope_dim, lat), hp->v_head_dim);
    ef_status st = EF_OK;
    if (hp->q_lora_rank > 0)
        st = ef_exec_alloc_floats(e->acct, &e->q_lat, nb, (uint64_t)hp->q_lora_rank, 1, "the MLA query latent");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->kv_a, nb, (uint64_t)(lat + rope), 1, "the MLA new latents");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->q_abs, nb, H, (uint64_t)(lat + rope), "the MLA absorbed queries");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->o_lat, nb, H, (uint64_t)(lat + rope), "the MLA latent outputs");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->h_in, nb, head_max, 1, "the MLA head rows");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->h_out, nb, head_max, 1, "the MLA head products");
    if (!st) e->ext_floats = ef_mla_ext_floats(e);
    return st;
}

/* The decompressed per-head buffers, allocated on first use of the
 * expanded path (their size is what the absorbed path avoids). */
static ef_status ensure_expanded(ef_exec *e) {
    if (e->k_exp) return EF_OK;
    const ef_hparams *hp = &e->m->hp;
    const uint64_t ctx = (uint64_t)e->n_ctx, H = (uint64_t)hp->n_head;
    ef_status st = ef_exec_alloc_floats(e->acct, &e->k_exp, ctx, H, (uint64_t)hp->head_dim, "the expanded MLA keys");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->v_exp, ctx, H, (uint64_t)hp->v_head_dim, "the expanded MLA values");
    if (!st)
        st = ef_exec_alloc_floats(e->acct, &e->exp_tmp, ctx,
                                  (uint64_t)(hp->kv_lora_rank + max2(hp->qk_nope_dim, hp->v_head_dim)), 1,
                                  "the MLA expansion scratch");
    if (st) {
        ef_acct_free(e->acct, e->k_exp);
        ef_acct_free(e->acct, e->v_exp);
        ef_acct_free(e->acct, e->exp_tmp);
        e->k_exp = e->v_exp = e->exp_tmp = NULL;
    }
    return st;
}

/* W_UK of head h as a weight view: split → {nope, kv_lora} (rows of nope:
 * q_nope·Wᵀ gives the absorbed query); legacy → {kv_lora, nope} (c_kv·Wᵀ
 * gives the expanded key). *transposed says which. */
static ef_tensor w_uk(const ef_model *m, const ef_layer *l, int32_t h, int *transposed) {
    const ef_hparams *hp = &m->hp;
    *transposed = !hp->mla_split;
    if (hp->mla_split) return ef_tensor_slice(l->wk_b, h);
    return ef_tensor_rows(l->wkv_b, (int64_t)h * (hp->qk_nope_dim + hp->v_head_dim), hp->qk_nope_dim);
}

/* W_UV of head h: {kv_lora, v} in both layouts (o_lat·Wᵀ, c_kv·Wᵀ). */
static ef_tensor w_uv(const ef_model *m, const ef_layer *l, int32_t h) {
    const ef_hparams *hp = &m->hp;
    if (hp->mla_split) return ef_tensor_slice(l->wv_b, h);
    return ef_tensor_rows(l->wkv_b, (int64_t)h * (hp->qk_nope_dim + hp->v_head_dim) + hp->qk_nope_dim,
                          hp->v_head_dim);
}

/* dst[t][0..len) = src[t*src_stride + off ...] for t < n. */
static void gather(float *dst, const float *src, int32_t n, int64_t src_stride, int64_t off, int32_t len) {
    for (int32_t t = 0; t < n; t++)
        memcpy(dst + (int64_t)t * len, src + (int64_t)t * src_stride + off, sizeof(float) * (size_t)len);
}

static void scatter(float *dst, const float *src, int32_t n, int64_t dst_stride, int64_t off, int32_t len) {
    for (int32_t t = 0; t < n; t++)
        memcpy(dst + (int64_t)t * dst_stride + off, src + (int64_t)t * len, sizeof(float) * (size_t)len);
}

/* The attention over the cache of layer il, as one shared latent head. */
static void attend_absorbed(ef_exec *e, ef_pool *pool, int32_t il, const void *cache_layer, int32_t n,
                            int32_t n_past) {
    const ef_layer *l = &e->m->layers[il];
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, nope = hp->qk_nope_dim, rope = hp->qk_rope_dim;
    const int32_t lat = hp->kv_lora_rank, dq = nope + rope, da = lat + rope, dv = hp->v_head_dim;
    for (int32_t h = 0; h < H; h++) {
        int transposed;
        const ef_tensor uk = w_uk(m, l, h, &transposed);
        gather(e->h_in, e->q, n, (int64_t)H * dq, (int64_t)h * dq, nope); /* [n][nope] */
        if (transposed)
            ef_cpu_matmul_t(pool, &uk, e->h_in, n, e->h_out, e->ext_scratch); /* [n][lat] */
        else
            ef_cpu_matmul(pool, &uk, e->h_in, n, e->h_out);
        scatter(e->q_abs, e->h_out, n, (int64_t)H * da, (int64_t)h * da, lat);
        for (int32_t t = 0; t < n; t++) /* the RoPE part passes through */
            memcpy(e->q_abs + ((int64_t)t * H + h) * da + lat, e->q + ((int64_t)t * H + h) * dq + nope,
                   sizeof(float) * (size_t)rope);
    }
    const int32_t window = e->layer_window[il];
    const void *page;
    const ef_kv_rows rows = ef_exec_layer_rows(e, il, cache_layer, &page); /* [n_ctx or ring][da] */
    if (window == 0) {
        /* Full causal: the flash kernel over the latent rows as one shared
         * head of da (K = V = [c_kv ‖ k_pe]; only the first lat outputs are
         * used). It scores with 1/sqrt(da): fold kq_scale·sqrt(da) into q. */
        const float fix = hp->kq_scale * sqrtf((float)da);
        for (int64_t i = 0; i < (int64_t)n * H * da; i++) e->q_abs[i] *= fix;
        const ef_attn_shape shape = ef_exec_flash_shape(e, n, n_past);
        const ef_kv_view kv = {rows, rows}; /* K = V = the latent rows, [n_ctx][da] */
        ef_cpu_flash_attn(pool, &shape, e->q_abs, &kv, e->attn_scratch, e->attn_partial, e->o_lat);
    } else {
        const ef_attn_ext a = {.n_tok = n, .n_past = n_past, .n_head = H, .n_head_kv = 1, .dk = da, .dv = da,
                               .scale = hp->kq_scale, .window = window, .n_sinks = e->n_sinks,
                               .ring_rows = e->layer_ring[il], .k = rows, .v = rows};
        ef_cpu_attn_ext(pool, &a, e->q_abs, e->ext_scratch, e->o_lat); /* [n][H][da] */
    }
    for (int32_t h = 0; h < H; h++) {
        const ef_tensor uv = w_uv(m, l, h);
        gather(e->h_in, e->o_lat, n, (int64_t)H * da, (int64_t)h * da, lat);
        ef_cpu_matmul(pool, &uv, e->h_in, n, e->h_out); /* [n][dv] */
        scatter(e->att, e->h_out, n, (int64_t)H * dv, (int64_t)h * dv, dv);
    }
}

/* Decompresses every cached latent into per-head K and V, then attends. */
static void attend_expanded(ef_exec *e, ef_pool *pool, int32_t il, const void *cache_layer, int32_t n,
                            int32_t n_past) {
    const ef_layer *l = &e->m->layers[il];
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, nope = hp->qk_nope_dim, rope = hp->qk_rope_dim;
    const int32_t lat = hp->kv_lora_rank, dq = nope + rope, dv = hp->v_head_dim;
    /* cache rows in use (a ring holds fewer than the positions) */
    const int32_t n_kv = e->layer_ring[il] && n_past + n > e->layer_ring[il] ? e->layer_ring[il] : n_past + n;
    float *c = e->exp_tmp;                        /* [n_kv][lat] cached latents as F32 */
    float *prod = e->exp_tmp + (int64_t)n_kv * lat; /* [n_kv][max(nope, dv)] */


    const void *page;
    const ef_kv_rows rows = ef_exec_layer_rows(e, il, cache_layer, &page); /* [n_ctx or ring][lat + rope] */
    ef_kv_rows_load(&rows, 0, n_kv, 0, lat, c, lat);                            /* latents: [n_kv][lat] */
    ef_kv_rows_load(&rows, 0, n_kv, lat, rope, e->k_exp + nope, (int64_t)H * dq); /* k_pe into head 0 */
    for (int32_t j = 0; j < n_kv; j++) /* the shared RoPE key, copied into every other head */
        for (int32_t h = 1; h < H; h++)
            memcpy(e->k_exp + ((int64_t)j * H + h) * dq + nope, e->k_exp + (int64_t)j * H * dq + nope,
                   sizeof(float) * (size_t)rope);
    for (int32_t h = 0; h < H; h++) {
        int transposed;
        const ef_tensor uk = w_uk(m, l, h, &transposed);
        if (transposed)
            ef_cpu_matmul(pool, &uk, c, n_kv, prod); /* legacy rows {lat, nope}: [n_kv][nope] */
        else
            ef_cpu_matmul_t(pool, &uk, c, n_kv, prod, e->ext_scratch);
        scatter(e->k_exp, prod, n_kv, (int64_t)H * dq, (int64_t)h * dq, nope);
        const ef_tensor uv = w_uv(m, l, h);
        ef_cpu_matmul(pool, &uv, c, n_kv, prod); /* [n_kv][dv] */
        scatter(e->v_exp, prod, n_kv, (int64_t)H * dv, (int64_t)h * dv, dv);
    }
    const void *k_page, *v_page;
    const ef_attn_ext a = {.n_tok = n, .n_past = n_past, .n_head = H, .n_head_kv = H, .dk = dq, .dv = dv,
                           .scale = hp->kq_scale, .window = e->layer_window[il], .n_sinks = e->n_sinks,
                           .ring_rows = e->layer_ring[il],
                           .k = ef_kv_rows_contiguous(EF_TYPE_F32, H * dq, n_kv, e->k_exp, &k_page),
                           .v = ef_kv_rows_contiguous(EF_TYPE_F32, H * dv, n_kv, e->v_exp, &v_page)};
    ef_cpu_attn_ext(pool, &a, e->q, e->ext_scratch, e->att); /* [n][H][dv] */
}

ef_status ef_mla_attention(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const ef_layer *l = &m->layers[il];
    const int32_t H = hp->n_head, nope = hp->qk_nope_dim, rope = hp->qk_rope_dim;
    const int32_t lat = hp->kv_lora_rank, dq = nope + rope;

    int expanded = e->mla_mode == EF_MLA_EXPANDED ||
                   (e->mla_mode == EF_MLA_AUTO && !hp->mla_split && n > EF_FLASH_DECODE_MAX_TOK);
    if (expanded) {
        ef_status st = ensure_expanded(e);
        if (st) {
            if (e->mla_mode == EF_MLA_EXPANDED) return st;
            expanded = 0; /* AUTO: the absorbed path needs no extra memory */
        }
    }

    ef_exec_norm(e, l->attn_norm, e->x, n, hp->n_embd, e->xn); /* [n][n_embd] */
    if (hp->q_lora_rank > 0) {
        ef_exec_project(e, pool, l->wq_a, NULL, e->xn, n, e->q_lat); /* [n][q_lora] */
        ef_exec_norm(e, l->q_a_norm, e->q_lat, n, hp->q_lora_rank, e->q_lat);
        ef_exec_project(e, pool, l->wq_b, NULL, e->q_lat, n, e->q); /* [n][H][dq] */
    } else {
        ef_exec_project(e, pool, l->wq, NULL, e->xn, n, e->q);
    }
    ef_exec_project(e, pool, l->wkv_a_mqa, NULL, e->xn, n, e->kv_a); /* [n][lat+rope] */
    ef_cpu_tensor_to_f32(l->kv_a_norm, e->wvec);
    for (int32_t t = 0; t < n; t++) {
        float *row = e->kv_a + (int64_t)t * (lat + rope);
        ef_cpu_rmsnorm(row, e->wvec, 1, lat, hp->norm_eps, row);
    }
    const ef_rope_params rp = {EF_ROPE_NORM, rope, hp->rope_freq_base, hp->rope_freq_scale, m->rope_factors};
    ef_cpu_rope(e->q + nope, n, H, dq, n_past, &rp);          /* q_pe of every head */
    ef_cpu_rope(e->kv_a + lat, n, 1, lat + rope, n_past, &rp); /* the shared k_pe */

    /* Cache rows of positions n_past.. ← [c_kv ‖ k_pe] */
    if (e->kv) { /* paged cache (exec_kv.c) */
        ef_status st = ef_exec_kv_write(e, il, n_past, n, e->kv_a, NULL);
        if (st) return st;
    } else {
        ef_exec_store_rows(e, e->k_cache, il, n_past, n, e->kv_a);
    }
    const char *cache_layer = ef_exec_cache_layer(e, e->k_cache, il);

    if (expanded)
        attend_expanded(e, pool, il, cache_layer, n, n_past);
    else
        attend_absorbed(e, pool, il, cache_layer, n, n_past);
    ef_exec_project(e, pool, l->wo, NULL, e->att, n, e->xn);
    ef_cpu_add(e->x, e->xn, (int64_t)n * hp->n_embd);
    return EF_OK;
}
