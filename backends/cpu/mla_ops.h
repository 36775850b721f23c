/* CPU kernels for Multi-head Latent Attention, windowed attention and MoE:
 * attention whose key and value heads differ in size (MLA: 576/512 absorbed,
 * 192/128 expanded) with an explicit score scale, a causal window with
 * attention sinks over a ring-buffer cache, and the transposed matmul that
 * the absorbed/expanded MLA products need. Same determinism contract as
 * cpu_ops.h: every output element is reduced by one worker in fixed order. */
#ifndef EF_BACKENDS_CPU_MLA_OPS_H
#define EF_BACKENDS_CPU_MLA_OPS_H

#include <stdint.h>

#include "base/threadpool.h"
#include "cpu/kv_rows.h"
#include "model/model.h"

/* Attention over a cache whose K/V heads may differ in size. Query token t
 * sits at position n_past + t and sees cached positions j ≤ n_past + t; with
 * a window w > 0 only those with n_past + t − j < w, plus j < n_sinks.
 * Position j lives in cache row j, or — for a ring of ring_rows rows —
 * row j when j < n_sinks, else n_sinks + (j − n_sinks) % (ring_rows − n_sinks). */
typedef struct ef_attn_ext {
    int32_t n_tok, n_past;
    int32_t n_head, n_head_kv; /* query head h reads K/V head h / (n_head / n_head_kv) */
    int32_t dk, dv;            /* key (= query) and value head sizes */
    float scale;               /* score = scale · q·k */
    int32_t window;            /* 0: full causal */
    int32_t n_sinks;           /* positions always visible with a window */
    int32_t ring_rows;         /* 0: row = position */
    ef_kv_rows k;              /* head g of row r: columns g*dk .. g*dk+dk of row r */
    ef_kv_rows v;              /* head g of row r: columns g*dv .. g*dv+dv of row r (MLA absorbed: the
                                  same latent rows as k); Q8_0/Q4_0 need dk, dv multiples of 32 */
} ef_attn_ext;

/* Floats of scratch per worker, for either kernel below; depends only on
 * n_head, n_head_kv, dk and dv (not on n_tok or the cache length). */
int64_t ef_cpu_attn_ext_scratch_floats(const ef_attn_ext *a);

/* q: [n_tok][n_head][dk]; out: [n_tok][n_head][dv]; scratch:
 * [ef_pool_size(pool)][ef_cpu_attn_ext_scratch_floats(a)]. Runs the tiled
 * SIMD kernel (attn_ext_tile.h) when the CPU and ef_cpu_simd_active allow,
 * else the reference. Results do not depend on the thread count, nor on how
 * a prompt is split into calls (decode-sized ones included). */
void ef_cpu_attn_ext(ef_pool *pool, const ef_attn_ext *a, const float *q, float *scratch, float *out);

/* The plain-C reference: one task per (token, KV head); each visible
 * position is loaded once and folded into the online softmax (F32) of every
 * query head of the group, in position order, so results do not depend on
 * the thread count or on how tokens are batched. */
void ef_cpu_attn_ext_ref(ef_pool *pool, const ef_attn_ext *a, const float *q, float *scratch, float *out);

/* The cache row of position pos (see ef_attn_ext). */
static inline int64_t ef_attn_ring_row(int64_t pos, int32_t ring_rows, int32_t n_sinks) {
    if (ring_rows <= 0 || pos < n_sinks) return pos;
    return n_sinks + (pos - n_sinks) % (ring_rows - n_sinks);
}

/* y[n][ne0] = x[n][ne1] · W for W = {ne0, ne1} (ne1 rows of ne0 elements):
 * the product with the transpose of what ef_cpu_matmul computes. Parallel
 * over tokens; each sum runs over W's rows in order. row_scratch:
 * [ef_pool_size(pool)][ne0] floats. */
void ef_cpu_matmul_t(ef_pool *pool, const ef_tensor *w, const float *x, int32_t n, float *y,
                     float *row_scratch);

/* A 2-D view of matrix i of a 3-D weight {ne0, ne1, ne2} (i < ne2). */
ef_tensor ef_tensor_slice(const ef_tensor *t, int64_t i);

/* A view of rows [first, first+count) of a 2-D weight {ne0, ne1}. */
ef_tensor ef_tensor_rows(const ef_tensor *t, int64_t first, int64_t count);

#endif
