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
#include "cpu/attn_ext_tile.h"
#include "cpu/cpu_ops.h"
#include "cpu/mla_ops.h"
#include "exec/exec_internal.h"
#include "quant/types.h"

static int32_t max2(int32_t a, int32_t b) { return a > b ? a : b; }

int32_t ef_mla_ext_floats(const ef_exec *e) {
    const ef_hparams *hp = &e->m->hp;
    const int32_t lat = hp->kv_lora_rank, dk = hp->qk_nope_dim + hp->qk_rope_dim, dv = hp->v_head_dim;
    /* windowed absorbed: H heads over one shared head of lat + rope, V its first lat */
    const ef_attn_ext absorbed = {.n_head = hp->n_head, .n_head_kv = 1, .dk = lat + hp->qk_rope_dim, .dv = lat};
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
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->o_lat, nb, H, (uint64_t)lat, "the MLA latent outputs");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->h_in, nb, head_max, 1, "the MLA head rows");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->h_out, nb, head_max, 1, "the MLA head products");
    if (!st) e->ext_floats = ef_mla_ext_floats(e);
    return st;
}

/* Cache rows the expanded buffers must hold: a ring's rows when every
 * layer is a ring (window layers stop growing), else the context. */
static uint64_t expanded_rows(const ef_exec *e) {
    uint64_t rows = 0;
    for (int32_t il = 0; il < e->m->hp.n_layer; il++) {
        const uint64_t r = e->layer_ring[il] > 0 ? (uint64_t)e->layer_ring[il] : (uint64_t)e->n_ctx;
        rows = r > rows ? r : rows;
    }
    return rows;
}

/* The decompressed per-head buffers, allocated on first use of the
 * expanded path (their size is what the absorbed path avoids). exp_tmp
 * holds the up-projections as F32 rows ([H][nope+rope][kv_lora] keys,
 * [H][v][kv_lora] values), then the cached latents ([rows][kv_lora]). */
static ef_status ensure_expanded(ef_exec *e) {
    if (e->k_exp) return EF_OK;
    const ef_hparams *hp = &e->m->hp;
    const uint64_t rows = expanded_rows(e), H = (uint64_t)hp->n_head, lat = (uint64_t)hp->kv_lora_rank;
    ef_status st = ef_exec_alloc_floats(e->acct, &e->k_exp, rows, H, (uint64_t)hp->head_dim, "the expanded MLA keys");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->v_exp, rows, H, (uint64_t)hp->v_head_dim, "the expanded MLA values");
    if (!st)
        st = ef_exec_alloc_floats(e->acct, &e->exp_tmp, rows + H * (uint64_t)(hp->head_dim + hp->v_head_dim), lat, 1,
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
    const void *page;
    const ef_kv_rows rows = ef_exec_layer_rows(e, il, cache_layer, &page); /* [n_ctx or ring][da] */
    /* One shared head for all H query heads: K = [c_kv ‖ k_pe] (da), V = c_kv,
     * the first lat of the same rows (the kernel loads each row once),
     * windowed or full causal. */
    const ef_attn_ext a = {.n_tok = n, .n_past = n_past, .n_head = H, .n_head_kv = 1, .dk = da, .dv = lat,
                           .scale = hp->kq_scale, .window = e->layer_window[il], .n_sinks = e->n_sinks,
                           .ring_rows = e->layer_ring[il], .k = rows, .v = rows};
    ef_cpu_attn_ext(pool, &a, e->q_abs, e->ext_scratch, e->o_lat); /* [n][H][lat] */
    for (int32_t h = 0; h < H; h++) {
        const ef_tensor uv = w_uv(m, l, h);
        gather(e->h_in, e->o_lat, n, (int64_t)H * lat, (int64_t)h * lat, lat);
        ef_cpu_matmul(pool, &uv, e->h_in, n, e->h_out); /* [n][dv] */
        scatter(e->att, e->h_out, n, (int64_t)H * dv, (int64_t)h * dv, dv);
    }
}

/* One row of a weight as F32. */
static void weight_row(const ef_tensor *w, int64_t r, float *dst) {
    const uint64_t row_bytes = ef_type_row_size(w->type, w->ne[0]);
    ef_type_get(w->type)->to_float((const uint8_t *)w->data + (uint64_t)r * row_bytes, dst, w->ne[0]);
}

/* The up-projections of layer il as F32 rows of kv_lora, so that one
 * matmul per call expands every cached latent of every head:
 * wk: [H][nope+rope][lat] (row h, i < nope: the latent weights of key
 * element i; the RoPE rows zero, filled with k_pe afterwards);
 * wv: [H][v][lat]. */
static void expansion_weights(const ef_exec *e, const ef_layer *l, float *wk, float *wv, float *row) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, nope = hp->qk_nope_dim, lat = hp->kv_lora_rank;
    const int32_t dq = nope + hp->qk_rope_dim, dv = hp->v_head_dim;
    memset(wk, 0, sizeof(float) * (size_t)H * (size_t)dq * (size_t)lat);
    for (int32_t h = 0; h < H; h++) {
        int transposed;
        const ef_tensor uk = w_uk(m, l, h, &transposed);
        float *wk_h = wk + (int64_t)h * dq * lat; /* [dq][lat] */
        if (transposed) { /* legacy {lat, nope}: nope rows of lat already */
            for (int32_t i = 0; i < nope; i++) weight_row(&uk, i, wk_h + (int64_t)i * lat);
        } else { /* split {nope, lat}: lat rows of nope, transposed here */
            for (int32_t r = 0; r < lat; r++) {
                weight_row(&uk, r, row); /* [nope] */
                for (int32_t i = 0; i < nope; i++) wk_h[(int64_t)i * lat + r] = row[i];
            }
        }
        const ef_tensor uv = w_uv(m, l, h); /* {lat, v}: v rows of lat */
        for (int32_t j = 0; j < dv; j++) weight_row(&uv, j, wv + ((int64_t)h * dv + j) * lat);
    }
}

/* An F32 weight view {ne0, ne1} over rows of ne0 floats. */
static ef_tensor f32_weight(const float *data, int64_t ne0, int64_t ne1) {
    ef_tensor t = {"MLA expansion", EF_TYPE_F32, 2, {ne0, ne1, 1, 1}, data, (uint64_t)(ne0 * ne1) * sizeof(float)};
    return t;
}

/* Decompresses every cached latent into per-head K and V, then attends. */
static void attend_expanded(ef_exec *e, ef_pool *pool, int32_t il, const void *cache_layer, int32_t n,
                            int32_t n_past) {
    const ef_layer *l = &e->m->layers[il];
    const ef_hparams *hp = &e->m->hp;
    const int32_t H = hp->n_head, nope = hp->qk_nope_dim, rope = hp->qk_rope_dim;
    const int32_t lat = hp->kv_lora_rank, dq = nope + rope, dv = hp->v_head_dim;
    /* cache rows in use (a ring holds fewer than the positions) */
    const int32_t n_kv = e->layer_ring[il] && n_past + n > e->layer_ring[il] ? e->layer_ring[il] : n_past + n;
    float *wk = e->exp_tmp;                      /* [H][dq][lat] */
    float *wv = wk + (int64_t)H * dq * lat;      /* [H][dv][lat] */
    float *c = wv + (int64_t)H * dv * lat;       /* [n_kv][lat] cached latents as F32 */

    expansion_weights(e, l, wk, wv, e->h_in);
    const void *page;
    const ef_kv_rows rows = ef_exec_layer_rows(e, il, cache_layer, &page); /* [n_ctx or ring][lat + rope] */
    const ef_kv_load_fn load = ef_kv_pick_load();
    load(&rows, 0, n_kv, 0, lat, c, lat); /* latents: [n_kv][lat] */
    const ef_tensor WK = f32_weight(wk, lat, (int64_t)H * dq), WV = f32_weight(wv, lat, (int64_t)H * dv);
    ef_cpu_matmul(pool, &WK, c, n_kv, e->k_exp); /* [n_kv][H][dq], RoPE slots 0 */
    ef_cpu_matmul(pool, &WV, c, n_kv, e->v_exp); /* [n_kv][H][dv] */
    load(&rows, 0, n_kv, lat, rope, e->k_exp + nope, (int64_t)H * dq); /* k_pe into head 0 */
    for (int32_t j = 0; j < n_kv; j++) /* the shared RoPE key, copied into every other head */
        for (int32_t h = 1; h < H; h++)
            memcpy(e->k_exp + ((int64_t)j * H + h) * dq + nope, e->k_exp + (int64_t)j * H * dq + nope,
                   sizeof(float) * (size_t)rope);
    const void *k_page, *v_page;
    const ef_attn_ext a = {.n_tok = n, .n_past = n_past, .n_head = H, .n_head_kv = H, .dk = dq, .dv = dv,
                           .scale = hp->kq_scale, .window = e->layer_window[il], .n_sinks = e->n_sinks,
                           .ring_rows = e->layer_ring[il],
                           .k = ef_kv_rows_contiguous(EF_TYPE_F32, H * dq, n_kv, e->k_exp, &k_page),
                           .v = ef_kv_rows_contiguous(EF_TYPE_F32, H * dv, n_kv, e->v_exp, &v_page)};
    ef_cpu_attn_ext(pool, &a, e->q, e->ext_scratch, e->att); /* [n][H][dv] */
}

/* Whether the expanded path does fewer multiply-adds for this call. Per
 * visible (query, key) pair and head the absorbed path reads kv_lora+rope
 * twice (scores, values), the expanded one nope+rope and v; but expanding
 * costs (nope+rope+v)·kv_lora per cached row and head each call (rows are
 * re-expanded every call, since the cache may change between calls), and
 * absorbing costs (nope+v)·kv_lora per query and head. So long prefill
 * chunks expand; decode (few queries over many rows) stays absorbed. */
static int expanded_is_cheaper(const ef_exec *e, int32_t il, int32_t n, int32_t n_past) {
    const ef_hparams *hp = &e->m->hp;
    const double H = hp->n_head, nope = hp->qk_nope_dim, rope = hp->qk_rope_dim;
    const double lat = hp->kv_lora_rank, dv = hp->v_head_dim;
    const int64_t window = e->layer_window[il], ring = e->layer_ring[il];
    double pairs = 0; /* visible (query, key) pairs of the call */
    for (int64_t p = n_past; p < (int64_t)n_past + n; p++)
        pairs += (double)(window > 0 && p + 1 > window + e->n_sinks ? window + e->n_sinks : p + 1);
    const double n_kv = (double)(ring > 0 && n_past + n > ring ? ring : (int64_t)n_past + n);
    const double absorbed = pairs * H * 2.0 * (lat + rope) + (double)n * H * (nope + dv) * lat;
    const double expanded = pairs * H * (nope + rope + dv) + n_kv * H * (nope + rope + dv) * lat;
    return expanded < absorbed;
}

ef_status ef_mla_attention(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    const ef_layer *l = &m->layers[il];
    const int32_t H = hp->n_head, nope = hp->qk_nope_dim, rope = hp->qk_rope_dim;
    const int32_t lat = hp->kv_lora_rank, dq = nope + rope;

    /* AUTO: per call, by cost; never for decode-sized calls (the cache is not re-expanded to decode) */
    int expanded = e->mla_mode == EF_MLA_EXPANDED ||
                   (e->mla_mode == EF_MLA_AUTO && n > EF_ATTN_EXT_DECODE_MAX_TOK && expanded_is_cheaper(e, il, n, n_past));
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
