/* Forward/backward of causal grouped-query attention with an optional
 * sliding window and sinks (a mask), per (sequence, head) as matrix
 * products on the CPU backend's F32 GEMM (cpu/matmul_grad.h):
 *
 *   S = scale·Q·Kᵀ, P = softmax(S) over the visible s ≤ t, ctx = P·V
 *   dP = dctx·Vᵀ; dV += Pᵀ·dctx; dS = P∘(dP − rowsum(P∘dP))·scale;
 *   dQ += dS·K; dK += dSᵀ·Q
 *
 * In precision bf16 these products round their operands to bfloat16 as the
 * projections do (PyTorch's CPU autocast does the same to bmm).
 *
 * Q of head h is [T, dk] with row stride H·dk inside q[B, T, H, dk] (K, V
 * likewise with KV), so the products read the heads in place. Causality is
 * used by blocks of ROWS queries: rows t0..t1 only meet keys 0..t1 (and key
 * blocks s0..s1 only queries s0..T); entries above the diagonal inside a
 * block come out of the products and are then zeroed. Masked entries of P
 * and dS are exactly 0, so they add nothing to the products.
 *
 * Work items are (b, kv head): the query heads of one group run in order
 * inside one worker, so the group's dk/dv have a single writer and the bits
 * do not depend on the thread count. Each worker multiplies on its own part
 * of the packing space (at most mm->threads workers take items). */
#include <math.h>
#include <string.h>

#include "cpu/exp.h"
#include "cpu/matmul_grad.h"
#include "train/train.h"
#include "train/train_reduce.h"

enum { ROWS = 32 }; /* queries (keys) per causal block */

typedef struct {
    float *ctx, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dctx, *att_c;
    ef_tr_attn_dims d;
    const ef_tr_mm *mm;
} attn_job;

/* The first visible position after the sinks for query t (the window's
 * start), so that t sees s < sinks and first ≤ s ≤ t. */
static int32_t window_first(const ef_tr_attn_dims *d, int32_t t) {
    if (d->window <= 0 || t - d->window + 1 <= 0) return 0;
    return t - d->window + 1;
}

/* The worker's GEMM: its packing space and the precision (bf16: operands
 * rounded to bfloat16, as in the projections). */
typedef struct gemm_space {
    float *pack;
    int bf16;
} gemm_space;

/* C[M, N] (+)= op(A)·op(B) on one worker's packing space. */
static void gemm_here(const gemm_space *sp, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                      int trans_a, const float *B, int64_t ldb, int trans_b, float *C, int64_t ldc, int accumulate) {
    const ef_gemm_f32 g = {.M = M, .N = N, .K = K, .A = A, .lda = lda, .trans_a = trans_a, .B = B,
                           .ldb = ldb, .trans_b = trans_b, .C = C, .ldc = ldc, .accumulate = accumulate,
                           .bf16 = sp->bf16, .work = sp->pack, .work_threads = 1};
    ef_cpu_gemm_f32(NULL, &g);
}

/* The heads of one work item in place. */
typedef struct head_view {
    int64_t ldq, ldk, ldv, ldc; /* row strides of q/dq, k/dk, v/dv, ctx/dctx */
    int64_t q, k, v, c;         /* offsets of head h / kv head in those arrays */
} head_view;

static head_view head_of(const ef_tr_attn_dims *d, int32_t b, int32_t h, int32_t kvh) {
    const int64_t bt = (int64_t)b * d->T;
    head_view v = {.ldq = (int64_t)d->H * d->dk, .ldk = (int64_t)d->KV * d->dk, .ldv = (int64_t)d->KV * d->dv,
                   .ldc = (int64_t)d->H * d->dv};
    v.q = bt * v.ldq + (int64_t)h * d->dk;
    v.k = bt * v.ldk + (int64_t)kvh * d->dk;
    v.v = bt * v.ldv + (int64_t)kvh * d->dv;
    v.c = bt * v.ldc + (int64_t)h * d->dv;
    return v;
}

/* Row t of P from its scores p[0..t] (scaled here): softmax over the
 * visible s, 0 elsewhere up to T. The masked s form one run [sinks, first). */
static void softmax_row(const ef_tr_attn_dims *d, int32_t t, float *p) {
    const int32_t first = window_first(d, t);
    for (int32_t s = 0; s <= t; s++) p[s] *= d->scale;
    for (int32_t s = d->sinks; s < first; s++) p[s] = -INFINITY;
    const float mx = ef_tr_reduce_max(p, t + 1); /* finite: s = t is visible */
    for (int32_t s = 0; s <= t; s++) p[s] -= mx; /* masked: −inf, whose exp is 0 */
    ef_cpu_exp(p, p, t + 1);
    const float inv = (float)(1.0 / ef_tr_reduce_sum(p, t + 1, 0));
    for (int32_t s = 0; s <= t; s++) p[s] *= inv;
    memset(p + t + 1, 0, sizeof(float) * (size_t)(d->T - t - 1));
}

/* Share of the items of worker ith, on at most mm->threads workers; 0 when idle. */
static int items_of(const attn_job *j, int32_t ith, int32_t nth, int64_t *begin, int64_t *end) {
    const int32_t parts = nth < j->mm->threads ? nth : j->mm->threads;
    if (ith >= parts) return 0;
    ef_split_range((int64_t)j->d.B * j->d.KV, ith, parts, begin, end);
    return 1;
}

static gemm_space space_of(const attn_job *j, int32_t ith) {
    const gemm_space sp = {j->mm->pack + (size_t)ith * ef_cpu_gemm_f32_work_floats(1), j->mm->bf16};
    return sp;
}

static void attn_fwd_worker(void *vctx, int32_t ith, int32_t nth) {
    const attn_job *j = vctx;
    const ef_tr_attn_dims *d = &j->d;
    const int32_t T = d->T, group = d->H / d->KV;
    const gemm_space sp = space_of(j, ith);
    int64_t begin, end;
    if (!items_of(j, ith, nth, &begin, &end)) return;
    for (int64_t item = begin; item < end; item++) {
        const int32_t b = (int32_t)(item / d->KV), kvh = (int32_t)(item % d->KV);
        for (int32_t h = kvh * group; h < (kvh + 1) * group; h++) {
            const head_view hv = head_of(d, b, h, kvh);
            float *P = j->att + ((int64_t)b * d->H + h) * T * T; /* [T, T] */
            for (int32_t t0 = 0; t0 < T; t0 += ROWS) {
                const int32_t t1 = t0 + ROWS < T ? t0 + ROWS : T;
                /* P[t0..t1, 0..t1] = Q[t0..t1]·K[0..t1]ᵀ, then the softmax */
                gemm_here(&sp, t1 - t0, t1, d->dk, j->q + hv.q + t0 * hv.ldq, hv.ldq, 0, j->k + hv.k, hv.ldk, 1,
                          P + (int64_t)t0 * T, T, 0);
                for (int32_t t = t0; t < t1; t++) softmax_row(d, t, P + (int64_t)t * T);
                /* ctx[t0..t1] = P[t0..t1, 0..t1]·V[0..t1] */
                gemm_here(&sp, t1 - t0, d->dv, t1, P + (int64_t)t0 * T, T, 0, j->v + hv.v, hv.ldv, 0,
                          j->ctx + hv.c + t0 * hv.ldc, hv.ldc, 0);
            }
        }
    }
}

void ef_tr_attention_fwd(ef_pool *pool, float *ctx, float *att, const float *q, const float *k,
                         const float *v, const ef_tr_attn_dims *d, const ef_tr_mm *mm) {
    attn_job j = {.ctx = ctx, .att = att, .q = q, .k = k, .v = v, .d = *d, .mm = mm};
    ef_pool_run(pool, attn_fwd_worker, &j);
}

/* dS of rows t0..t1 in place over dP (ds: [T, T], rows from dP[t, 0..t1]):
 * ds_ts = p_ts·(dp_ts − Σ_u p_tu·dp_tu)·scale for s ≤ t, 0 past t. */
static void score_grads(const ef_tr_attn_dims *d, const float *P, float *ds, int32_t t0, int32_t t1) {
    const int32_t T = d->T;
    for (int32_t t = t0; t < t1; t++) {
        const float *p = P + (int64_t)t * T; /* [T] */
        float *g = ds + (int64_t)t * T;      /* [T] */
        const float pdp = (float)ef_tr_reduce_dot(p, g, NULL, t + 1);
        for (int32_t s = 0; s <= t; s++) g[s] = p[s] * (g[s] - pdp) * d->scale;
        memset(g + t + 1, 0, sizeof(float) * (size_t)(T - t - 1));
    }
}

static void attn_bwd_worker(void *vctx, int32_t ith, int32_t nth) {
    const attn_job *j = vctx;
    const ef_tr_attn_dims *d = &j->d;
    const int32_t T = d->T, group = d->H / d->KV;
    const gemm_space sp = space_of(j, ith);
    float *ds = j->scratch + (int64_t)ith * T * T; /* [T, T]: dP, then dS */
    int64_t begin, end;
    if (!items_of(j, ith, nth, &begin, &end)) return;
    for (int64_t item = begin; item < end; item++) {
        const int32_t b = (int32_t)(item / d->KV), kvh = (int32_t)(item % d->KV);
        for (int32_t h = kvh * group; h < (kvh + 1) * group; h++) {
            const head_view hv = head_of(d, b, h, kvh);
            const float *P = j->att_c + ((int64_t)b * d->H + h) * T * T; /* [T, T] */
            const float *dctx = j->dctx + hv.c;                           /* [T, dv], stride ldc */
            const int group_add = h > kvh * group; /* the group's first head writes dk/dv, the others add */
            for (int32_t t0 = 0; t0 < T; t0 += ROWS) {
                const int32_t t1 = t0 + ROWS < T ? t0 + ROWS : T;
                /* dP[t0..t1, 0..t1] = dctx[t0..t1]·V[0..t1]ᵀ → dS; dQ[t0..t1] += dS·K[0..t1] */
                gemm_here(&sp, t1 - t0, t1, d->dv, dctx + t0 * hv.ldc, hv.ldc, 0, j->v + hv.v, hv.ldv, 1,
                          ds + (int64_t)t0 * T, T, 0);
                score_grads(d, P, ds, t0, t1);
                gemm_here(&sp, t1 - t0, d->dk, t1, ds + (int64_t)t0 * T, T, 0, j->k + hv.k, hv.ldk, 0,
                          j->dq + hv.q + t0 * hv.ldq, hv.ldq, 0);
            }
            for (int32_t s0 = 0; s0 < T; s0 += ROWS) {
                const int32_t s1 = s0 + ROWS < T ? s0 + ROWS : T;
                /* keys s0..s1 meet queries s0..T: dV += P[s0.., s0..s1]ᵀ·dctx[s0..],
                 * dK += dS[s0.., s0..s1]ᵀ·Q[s0..] */
                gemm_here(&sp, s1 - s0, d->dv, T - s0, P + (int64_t)s0 * T + s0, T, 1, dctx + s0 * hv.ldc,
                          hv.ldc, 0, j->dv + hv.v + s0 * hv.ldv, hv.ldv, group_add);
                gemm_here(&sp, s1 - s0, d->dk, T - s0, ds + (int64_t)s0 * T + s0, T, 1,
                          j->q + hv.q + s0 * hv.ldq, hv.ldq, 0, j->dk + hv.k + s0 * hv.ldk, hv.ldk, group_add);
            }
        }
    }
}

size_t ef_tr_attention_scratch_floats(int32_t T, int32_t n_threads) {
    return (size_t)T * (size_t)T * (size_t)(n_threads < 1 ? 1 : n_threads);
}

void ef_tr_attention_bwd(ef_pool *pool, float *dq, float *dk, float *dv, const float *dctx,
                         const float *att, const float *q, const float *k, const float *v,
                         const ef_tr_attn_dims *d, float *scratch, const ef_tr_mm *mm) {
    attn_job j = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v,
                  .dctx = dctx, .att_c = att, .d = *d, .mm = mm};
    ef_pool_run(pool, attn_bwd_worker, &j);
}
