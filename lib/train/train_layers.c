/* Forward/backward pairs of the position-wise layers: embedding, RMSNorm,
 * the linear projection and SwiGLU. */
#include <math.h>
#include <string.h>

#include "cpu/exp.h"
#include "cpu/matmul_grad.h"
#include "train/train.h"
#include "train/train_reduce.h"

void ef_tr_embed_fwd(float *out, const int32_t *tokens, const float *table, int64_t N, int32_t C) {
    for (int64_t n = 0; n < N; n++)
        memcpy(out + n * C, table + (int64_t)tokens[n] * C, sizeof(float) * (size_t)C);
}

void ef_tr_embed_bwd(float *dtable, const float *dout, const int32_t *tokens, int64_t N, int32_t C) {
    for (int64_t n = 0; n < N; n++) {
        float *row = dtable + (int64_t)tokens[n] * C; /* [C] */
        const float *d = dout + n * C;                /* [C] */
        for (int32_t i = 0; i < C; i++) row[i] += d[i];
    }
}

/* Rows [r0, r1) of the forward, after x += add when add is not NULL. */
static void rmsnorm_fwd_rows(float *out, float *rstd, float *x_add, const float *x, const float *add,
                             const float *w, int64_t r0, int64_t r1, int32_t C, float eps) {
    for (int64_t n = r0; n < r1; n++) {
        const float *xn = x + n * C; /* [C] */
        float *on = out + n * C;     /* [C] */
        if (add) {
            float *xa = x_add + n * C;      /* [C] == xn */
            const float *an = add + n * C; /* [C] */
            for (int32_t i = 0; i < C; i++) xa[i] += an[i];
        }
        const double ss = ef_tr_reduce_sum(xn, C, 1); /* double, as the engine's kernel */
        float r = (float)(1.0 / sqrt(ss / C + eps));
        rstd[n] = r;
        for (int32_t i = 0; i < C; i++) on[i] = xn[i] * r * w[i];
    }
}

typedef struct rmsnorm_job {
    float *out, *rstd, *x_add;
    const float *x, *add, *w;
    int64_t N;
    int32_t C;
    float eps;
} rmsnorm_job;

static void rmsnorm_fwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const rmsnorm_job *j = ctx;
    int64_t r0, r1;
    ef_split_range(j->N, ith, nth, &r0, &r1);
    rmsnorm_fwd_rows(j->out, j->rstd, j->x_add, j->x, j->add, j->w, r0, r1, j->C, j->eps);
}

void ef_tr_rmsnorm_fwd(ef_pool *pool, float *out, float *rstd, const float *x, const float *w, int64_t N,
                       int32_t C, float eps) {
    rmsnorm_job j = {.out = out, .rstd = rstd, .x = x, .w = w, .N = N, .C = C, .eps = eps};
    ef_pool_run(pool, rmsnorm_fwd_worker, &j);
}

void ef_tr_rmsnorm_fwd_add(ef_pool *pool, float *out, float *rstd, float *x, const float *add, const float *w,
                           int64_t N, int32_t C, float eps) {
    rmsnorm_job j = {.out = out, .rstd = rstd, .x_add = x, .x = x, .add = add, .w = w, .N = N, .C = C, .eps = eps};
    ef_pool_run(pool, rmsnorm_fwd_worker, &j);
}

/* y_i = x_i·r·w_i with r = (mean(x²)+eps)^-1/2:
 * dx_i = r·w_i·dy_i − x_i·r³/C · Σ_j dy_j·w_j·x_j;  dw_i = Σ_n dy_i·x_i·r.
 * On the pool, one job in two independent parts: each worker adds the dx of
 * its rows, and the dw of its columns summed over all rows in order n =
 * 0..N−1 (then added to dw), so the bits do not depend on the thread count
 * and no partial sums over row slices need scratch space. */
typedef struct rmsnorm_bwd_job {
    float *dx, *dw;
    const float *dout, *x, *w, *rstd;
    int64_t N;
    int32_t C;
    int dx_add; /* add into dx, else overwrite it */
} rmsnorm_bwd_job;

enum { NORM_COL_BLOCK = 16,   /* columns per share unit: one cache line of dw */
       NORM_COL_CHUNK = 512 }; /* columns summed at once in a local buffer */

static void rmsnorm_bwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const rmsnorm_bwd_job *j = ctx;
    const int32_t C = j->C;
    int64_t r0, r1;
    ef_split_range(j->N, ith, nth, &r0, &r1);
    for (int64_t n = r0; n < r1; n++) {
        const float *xn = j->x + n * C;    /* [C] */
        const float *dy = j->dout + n * C; /* [C] */
        float *dxn = j->dx + n * C;        /* [C] */
        const float r = j->rstd[n];
        const double dot = ef_tr_reduce_dot(dy, j->w, xn, C);
        const float k = (float)(dot * r * r * r / C);
        if (j->dx_add)
            for (int32_t i = 0; i < C; i++) dxn[i] += r * j->w[i] * dy[i] - xn[i] * k;
        else
            for (int32_t i = 0; i < C; i++) dxn[i] = r * j->w[i] * dy[i] - xn[i] * k;
    }
    int64_t b0, b1;
    ef_split_range((C + NORM_COL_BLOCK - 1) / NORM_COL_BLOCK, ith, nth, &b0, &b1);
    const int32_t c_begin = (int32_t)(b0 * NORM_COL_BLOCK);
    const int32_t c_end = (int32_t)(b1 * NORM_COL_BLOCK < C ? b1 * NORM_COL_BLOCK : C);
    /* sums in a local buffer, added to dw once: dw's cache lines at the
     * share boundaries are not written by two workers row after row */
    float acc[NORM_COL_CHUNK]; /* [c1 − c0] */
    for (int32_t c0 = c_begin; c0 < c_end; c0 += NORM_COL_CHUNK) {
        const int32_t c1 = c_end - c0 < NORM_COL_CHUNK ? c_end : c0 + NORM_COL_CHUNK;
        memset(acc, 0, sizeof(float) * (size_t)(c1 - c0));
        for (int64_t n = 0; n < j->N; n++) {
            const float *xn = j->x + n * C + c0;    /* [c1 − c0] */
            const float *dy = j->dout + n * C + c0; /* [c1 − c0] */
            const float r = j->rstd[n];
            for (int32_t i = 0; i < c1 - c0; i++) acc[i] += dy[i] * xn[i] * r;
        }
        for (int32_t i = 0; i < c1 - c0; i++) j->dw[c0 + i] += acc[i];
    }
}

void ef_tr_rmsnorm_bwd(ef_pool *pool, float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int64_t N, int32_t C) {
    rmsnorm_bwd_job j = {dx, dw, dout, x, w, rstd, N, C, 1};
    ef_pool_run(pool, rmsnorm_bwd_worker, &j);
}

void ef_tr_rmsnorm_bwd_set(ef_pool *pool, float *dx, float *dw, const float *dout, const float *x, const float *w,
                           const float *rstd, int64_t N, int32_t C) {
    rmsnorm_bwd_job j = {dx, dw, dout, x, w, rstd, N, C, 0};
    ef_pool_run(pool, rmsnorm_bwd_worker, &j);
}

/* The projections run on the CPU backend's F32 GEMM with transposed
 * operands (cpu/matmul_grad.h), which gives the same bits for any thread
 * count — in precision bf16 with both operands of every product rounded to
 * bfloat16 (mixed precision: the weights, their gradients, the optimizer
 * and everything outside the matrix products stay F32); the backward
 * multiplies by W and doutᵀ in place, no copies:
 *   out[N, O]  = x[N, I] · Wᵀ           (W stored [O, I])
 *   dx[N, I]  += dout[N, O] · W[O, I]
 *   dW[O, I]  += doutᵀ · x[N, I]        (dout stored [N, O]) */
size_t ef_tr_mm_work_floats(int32_t n_threads) { return ef_cpu_gemm_f32_work_floats(n_threads); }

static const ef_tr_b16 k_no_twins = {NULL, NULL, NULL};

void ef_tr_matmul_fwd_b16(ef_pool *pool, float *out, const float *x, const float *W, int64_t N, int32_t I,
                          int32_t O, const ef_tr_mm *mm, const ef_tr_b16 *tw) {
    if (!tw || !mm->bf16) tw = &k_no_twins;
    const ef_gemm_f32 g = {.M = N, .N = O, .K = I, .A = x, .lda = I, .B = W, .ldb = I, .trans_b = 1,
                           .C = out, .ldc = O, .bf16 = mm->bf16, .A16 = tw->x, .B16 = tw->W, .work = mm->pack,
                           .work_threads = mm->threads};
    ef_cpu_gemm_f32(pool, &g);
}

void ef_tr_matmul_fwd(ef_pool *pool, float *out, const float *x, const float *W, int64_t N,
                      int32_t I, int32_t O, const ef_tr_mm *mm) {
    ef_tr_matmul_fwd_b16(pool, out, x, W, N, I, O, mm, NULL);
}

/* dx (+)= dout·W (dx_add: add, else overwrite), dW += doutᵀ·x. */
void ef_tr_matmul_bwd_b16(ef_pool *pool, float *dx, int dx_add, float *dW, const float *dout, const float *x,
                          const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm,
                          const ef_tr_b16 *tw) {
    if (!tw || !mm->bf16) tw = &k_no_twins;
    if (dx) {
        const ef_gemm_f32 g = {.M = N, .N = I, .K = O, .A = dout, .lda = O, .B = W, .ldb = I,
                               .C = dx, .ldc = I, .accumulate = dx_add, .bf16 = mm->bf16, .A16 = tw->dout,
                               .B16 = tw->W, .work = mm->pack, .work_threads = mm->threads};
        ef_cpu_gemm_f32(pool, &g);
    }
    const ef_gemm_f32 g = {.M = O, .N = I, .K = N, .A = dout, .lda = O, .trans_a = 1, .B = x, .ldb = I,
                           .C = dW, .ldc = I, .accumulate = 1, .bf16 = mm->bf16, .A16 = tw->dout,
                           .B16 = tw->x, .work = mm->pack, .work_threads = mm->threads};
    ef_cpu_gemm_f32(pool, &g);
}

void ef_tr_matmul_bwd(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                      const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm) {
    ef_tr_matmul_bwd_b16(pool, dx, 1, dW, dout, x, W, N, I, O, mm, NULL);
}

void ef_tr_matmul_bwd_set(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                          const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm) {
    ef_tr_matmul_bwd_b16(pool, dx, 0, dW, dout, x, W, N, I, O, mm, NULL);
}

typedef struct to_bf16_job {
    uint16_t *dst;
    const float *src;
    int64_t n;
} to_bf16_job;

static void to_bf16_worker(void *ctx, int32_t ith, int32_t nth) {
    const to_bf16_job *j = ctx;
    int64_t b, e; /* in blocks of 64 values, so each worker's part starts on a cache line */
    ef_split_range((j->n + 63) / 64, ith, nth, &b, &e);
    b *= 64, e = e * 64 < j->n ? e * 64 : j->n;
    if (b < e) ef_cpu_f32_to_bf16(j->dst + b, j->src + b, e - b);
}

void ef_tr_to_bf16(ef_pool *pool, uint16_t *dst, const float *src, int64_t n) {
    to_bf16_job j = {dst, src, n};
    ef_pool_run(pool, to_bf16_worker, &j);
}

/* Elements [b, e) of SwiGLU forward (dg == NULL) or backward. */
typedef struct swiglu_job {
    float *h, *dg, *du;
    const float *dh, *g, *u;
    int64_t n;
} swiglu_job;

/* σ(g) is computed CHUNK values at a time by the vectorized sigmoid
 * (cpu/exp.h), whose bits do not depend on where a range is cut. */
enum { SWIGLU_CHUNK = 256 };

static void swiglu_fwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const swiglu_job *j = ctx;
    const int level = ef_cpu_exp_level();
    float s[SWIGLU_CHUNK]; /* [chunk] σ(g) */
    int64_t b, e;
    ef_split_range(j->n, ith, nth, &b, &e);
    for (int64_t c0 = b; c0 < e; c0 += SWIGLU_CHUNK) {
        const int64_t len = e - c0 < SWIGLU_CHUNK ? e - c0 : SWIGLU_CHUNK;
        const float *g = j->g + c0, *u = j->u + c0; /* [len] */
        float *h = j->h + c0;                       /* [len] */
        ef_cpu_sigmoid_with(level, g, s, len);
        for (int64_t i = 0; i < len; i++) h[i] = g[i] * s[i] * u[i];
    }
}

void ef_tr_swiglu_fwd(ef_pool *pool, float *h, const float *g, const float *u, int64_t n) {
    swiglu_job j = {.h = h, .g = g, .u = u, .n = n};
    ef_pool_run(pool, swiglu_fwd_worker, &j);
}

/* silu(g) = g·σ(g); silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
static void swiglu_bwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const swiglu_job *j = ctx;
    const int level = ef_cpu_exp_level();
    float s[SWIGLU_CHUNK]; /* [chunk] σ(g) */
    int64_t b, e;
    ef_split_range(j->n, ith, nth, &b, &e);
    for (int64_t c0 = b; c0 < e; c0 += SWIGLU_CHUNK) {
        const int64_t len = e - c0 < SWIGLU_CHUNK ? e - c0 : SWIGLU_CHUNK;
        const float *g = j->g + c0, *u = j->u + c0, *dh = j->dh + c0; /* [len] */
        float *dg = j->dg + c0, *du = j->du + c0;                       /* [len] */
        ef_cpu_sigmoid_with(level, g, s, len);
        for (int64_t i = 0; i < len; i++) {
            dg[i] = dh[i] * u[i] * s[i] * (1.0f + g[i] * (1.0f - s[i]));
            du[i] = dh[i] * g[i] * s[i];
        }
    }
}

void ef_tr_swiglu_bwd(ef_pool *pool, float *dg, float *du, const float *dh, const float *g, const float *u,
                      int64_t n) {
    swiglu_job j = {.dg = dg, .du = du, .dh = dh, .g = g, .u = u, .n = n};
    ef_pool_run(pool, swiglu_bwd_worker, &j);
}
