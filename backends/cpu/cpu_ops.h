/* The reference CPU backend: plain, readable C kernels that every other
 * backend is checked against. Activations are F32, row-major; weights are
 * ef_tensor (any type whose ef_type_info has to_float). Every kernel gives
 * the same bits for any thread count: each output element is reduced by one
 * worker in a fixed order. */
#ifndef EF_BACKENDS_CPU_OPS_H
#define EF_BACKENDS_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "cpu/kv_rows.h"
#include "model/model.h"

/* ---- conversion / embedding (cpu_convert.c) ---- */

/* Converts every element of a (small) tensor, e.g. a norm weight or bias,
 * to F32. dst: [ne0*ne1*ne2*ne3]. */
void ef_cpu_tensor_to_f32(const ef_tensor *t, float *dst);

/* Row lookup: out[i] = row ids[i] of emb ({n_embd, n_rows}), dequantized.
 * out: [n][emb->ne[0]]. Ids must be in range (the caller checks). */
void ef_cpu_get_rows(const ef_tensor *emb, const int32_t *ids, int32_t n, float *out);

/* ---- matmul (cpu_matmul.c) ---- */

/* y[n][out] = x[n][in] · Wᵀ for W = {in, out} (out rows of in elements).
 * Parallel over output rows. */
void ef_cpu_matmul(ef_pool *pool, const ef_tensor *w, const float *x, int32_t n, float *y);

/* ---- normalization (cpu_norm.c) ---- */

/* y[t] = x[t] / sqrt(mean(x[t]²) + eps) * w, for t < n. x, y: [n][dim]
 * (may alias); w: [dim]. */
void ef_cpu_rmsnorm(const float *x, const float *w, int32_t n, int32_t dim, float eps, float *y);

/* ---- rotary position embedding (cpu_rope.c) ---- */

typedef struct ef_rope_params {
    ef_rope_mode mode;
    int32_t n_rot;              /* rotated dims per head, even, ≤ head_dim */
    float freq_base;            /* θ_i = base^(-2i/n_rot) */
    float freq_scale;           /* linear scaling: positions multiplied by this */
    const float *freq_factors;  /* [n_rot/2]: θ_i divided by factor i; NULL = none */
} ef_rope_params;

/* Rotates x in place: x: [n_tok][n_heads][head_dim]; token t sits at
 * position pos0 + t. Dims ≥ n_rot pass through unchanged. */
void ef_cpu_rope(float *x, int32_t n_tok, int32_t n_heads, int32_t head_dim, int32_t pos0,
                 const ef_rope_params *p);

/* ---- attention (cpu_attention.c) ---- */

typedef struct ef_attn_shape {
    int32_t n_tok;     /* query tokens, at positions n_past .. n_past+n_tok-1 */
    int32_t n_past;    /* tokens cached before them */
    int32_t n_head;    /* query heads */
    int32_t n_head_kv; /* key/value heads; n_head % n_head_kv == 0 */
    int32_t head_dim;
} ef_attn_shape;

/* Causal attention with grouped queries: query head h reads kv head
 * h / (n_head/n_head_kv); token t sees cached positions 0 .. n_past+t.
 * q, out: [n_tok][n_head*head_dim]; k, v: [n_past+n_tok][n_head_kv*head_dim];
 * scores: scratch [n_head][n_past+n_tok]. Softmax in F32; parallel over heads. */
void ef_cpu_attention(ef_pool *pool, const ef_attn_shape *s, const float *q, const float *k,
                      const float *v, float *scores, float *out);

/* ---- flash attention (flash_attn_*.c) ---- */

/* The tiling fixes the order of every sum, so a query row's result depends
 * only on its position and the cache, never on the thread count or on how
 * tokens are batched: KV tiles and split-KV chunks start at multiples of
 * their size from position 0. Per row, each chunk is folded tile by tile
 * (online softmax) from a fresh state; the chunks are then combined in
 * order 0, 1, ... — the same arithmetic in the prefill and decode paths. */
enum {
    EF_FLASH_KV_TILE = 64,      /* cache positions per tile */
    EF_FLASH_KV_CHUNK = 256,    /* cache positions per split-KV chunk (a multiple of the tile) */
    EF_FLASH_Q_ROWS = 64,       /* query rows (tokens × heads of one KV group) per prefill task */
    EF_FLASH_DECODE_MAX_TOK = 4 /* ef_cpu_flash_attn takes the split-KV path up to this many tokens */
};

/* The cache as the kernels read it: paged rows (cpu/kv_rows.h) of at least
 * n_head_kv*head_dim elements, KV head g at columns g*head_dim ..; row p is
 * position p. K and V may differ in type and paging. Q8_0/Q4_0 rows need
 * head_dim a multiple of 32. */
typedef struct ef_kv_view {
    ef_kv_rows k; /* [n_past+n_tok][n_head_kv*head_dim] */
    ef_kv_rows v; /* [n_past+n_tok][n_head_kv*head_dim] */
} ef_kv_view;

/* Floats of scratch one worker needs for either path; depends only on
 * n_head, n_head_kv and head_dim. Callers give ef_pool_size(pool) times this. */
size_t ef_cpu_flash_scratch_floats(const ef_attn_shape *s);

/* Floats of the split-KV partial results for up to n_tok tokens over n_kv
 * cache positions: [ceil(n_kv/EF_FLASH_KV_CHUNK)][n_tok][n_head][head_dim+2]. */
size_t ef_cpu_flash_partial_floats(const ef_attn_shape *s, int32_t n_kv, int32_t n_tok);

/* Causal GQA attention as ef_cpu_attention computes it, without any
 * n_tok × n_kv buffer. q, out: [n_tok][n_head*head_dim]; scratch:
 * [ef_pool_size(pool)][ef_cpu_flash_scratch_floats(s)].
 * Prefill: one task per (KV head, tile of query tokens), parallel over tasks. */
void ef_cpu_flash_attn_prefill(ef_pool *pool, const ef_attn_shape *s, const float *q,
                               const ef_kv_view *kv, float *scratch, float *out);

/* Decode (split-KV): one task per (KV head, chunk of cache positions), each
 * writing partial (max, sum, acc) into partial
 * [ef_cpu_flash_partial_floats(s, n_past+n_tok, n_tok)], then a reduce over
 * the chunks in fixed order. Bit-identical to the prefill path. */
void ef_cpu_flash_attn_decode(ef_pool *pool, const ef_attn_shape *s, const float *q,
                              const ef_kv_view *kv, float *scratch, float *partial, float *out);

/* Decode for n_tok ≤ EF_FLASH_DECODE_MAX_TOK (partial as for decode), else
 * prefill (partial unused, may be NULL). */
void ef_cpu_flash_attn(ef_pool *pool, const ef_attn_shape *s, const float *q, const ef_kv_view *kv,
                       float *scratch, float *partial, float *out);

/* ---- element-wise (cpu_elementwise.c) ---- */

/* x[i] += y[i]; x, y: [n]. */
void ef_cpu_add(float *x, const float *y, int64_t n);
/* y[t][j] += b[j]; y: [n][dim], b: [dim]. */
void ef_cpu_add_bias(float *y, const float *b, int32_t n, int32_t dim);
/* out[i] = silu(gate[i]) * up[i]; all [n] (out may alias gate). */
void ef_cpu_swiglu(const float *gate, const float *up, float *out, int64_t n);

#endif
