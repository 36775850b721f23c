/* Forward/backward pairs of the position-wise layers: embedding, RMSNorm,
 * the linear projection and SwiGLU. */
#include <math.h>
#include <string.h>

#include "cpu/matmul_grad.h"
#include "train/train.h"

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

/* Rows [r0, r1) of the forward. */
static void rmsnorm_fwd_rows(float *out, float *rstd, const float *x, const float *w, int64_t r0, int64_t r1,
                             int32_t C, float eps) {
    for (int64_t n = r0; n < r1; n++) {
        const float *xn = x + n * C; /* [C] */
        float *on = out + n * C;     /* [C] */
        double ss = 0.0; /* double, as the engine's kernel */
        for (int32_t i = 0; i < C; i++) ss += (double)xn[i] * xn[i];
        float r = (float)(1.0 / sqrt(ss / C + eps));
        rstd[n] = r;
        for (int32_t i = 0; i < C; i++) on[i] = xn[i] * r * w[i];
    }
}

typedef struct rmsnorm_job {
    float *out, *rstd;
    const float *x, *w;
    int64_t N;
    int32_t C;
    float eps;
} rmsnorm_job;

static void rmsnorm_fwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const rmsnorm_job *j = ctx;
    int64_t r0, r1;
    ef_split_range(j->N, ith, nth, &r0, &r1);
    rmsnorm_fwd_rows(j->out, j->rstd, j->x, j->w, r0, r1, j->C, j->eps);
}

void ef_tr_rmsnorm_fwd(ef_pool *pool, float *out, float *rstd, const float *x, const float *w, int64_t N,
                       int32_t C, float eps) {
    rmsnorm_job j = {out, rstd, x, w, N, C, eps};
    ef_pool_run(pool, rmsnorm_fwd_worker, &j);
}

/* y_i = x_i·r·w_i with r = (mean(x²)+eps)^-1/2:
 * dx_i = r·w_i·dy_i − x_i·r³/C · Σ_j dy_j·w_j·x_j;  dw_i = Σ_n dy_i·x_i·r. */
void ef_tr_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int64_t N, int32_t C) {
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x + n * C;    /* [C] */
        const float *dy = dout + n * C; /* [C] */
        float *dxn = dx + n * C;        /* [C] */
        const float r = rstd[n];
        double dot = 0.0;
        for (int32_t i = 0; i < C; i++) dot += (double)dy[i] * w[i] * xn[i];
        const float k = (float)(dot * r * r * r / C);
        for (int32_t i = 0; i < C; i++) {
            dxn[i] += r * w[i] * dy[i] - xn[i] * k;
            dw[i] += dy[i] * xn[i] * r;
        }
    }
}

/* The projections run on the CPU backend's F32 GEMM with transposed
 * operands (cpu/matmul_grad.h), which gives the same bits for any thread
 * count; the backward multiplies by W and doutᵀ in place, no copies:
 *   out[N, O]  = x[N, I] · Wᵀ           (W stored [O, I])
 *   dx[N, I]  += dout[N, O] · W[O, I]
 *   dW[O, I]  += doutᵀ · x[N, I]        (dout stored [N, O]) */
size_t ef_tr_mm_work_floats(int32_t n_threads) { return ef_cpu_gemm_f32_work_floats(n_threads); }

void ef_tr_matmul_fwd(ef_pool *pool, float *out, const float *x, const float *W, int64_t N,
                      int32_t I, int32_t O, const ef_tr_mm *mm) {
    const ef_gemm_f32 g = {.M = N, .N = O, .K = I, .A = x, .lda = I, .B = W, .ldb = I, .trans_b = 1,
                           .C = out, .ldc = O, .work = mm->pack, .work_threads = mm->threads};
    ef_cpu_gemm_f32(pool, &g);
}

/* dx (+)= dout·W (dx_add: add, else overwrite), dW += doutᵀ·x. */
static void matmul_bwd(ef_pool *pool, float *dx, int dx_add, float *dW, const float *dout, const float *x,
                       const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm) {
    if (dx) {
        const ef_gemm_f32 g = {.M = N, .N = I, .K = O, .A = dout, .lda = O, .B = W, .ldb = I,
                               .C = dx, .ldc = I, .accumulate = dx_add, .work = mm->pack,
                               .work_threads = mm->threads};
        ef_cpu_gemm_f32(pool, &g);
    }
    const ef_gemm_f32 g = {.M = O, .N = I, .K = N, .A = dout, .lda = O, .trans_a = 1, .B = x, .ldb = I,
                           .C = dW, .ldc = I, .accumulate = 1, .work = mm->pack,
                           .work_threads = mm->threads};
    ef_cpu_gemm_f32(pool, &g);
}

void ef_tr_matmul_bwd(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                      const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm) {
    matmul_bwd(pool, dx, 1, dW, dout, x, W, N, I, O, mm);
}

void ef_tr_matmul_bwd_set(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                          const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm) {
    matmul_bwd(pool, dx, 0, dW, dout, x, W, N, I, O, mm);
}

/* Elements [b, e) of SwiGLU forward (dg == NULL) or backward. */
typedef struct swiglu_job {
    float *h, *dg, *du;
    const float *dh, *g, *u;
    int64_t n;
} swiglu_job;

static void swiglu_fwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const swiglu_job *j = ctx;
    int64_t b, e;
    ef_split_range(j->n, ith, nth, &b, &e);
    for (int64_t i = b; i < e; i++) {
        const float s = 1.0f / (1.0f + expf(-j->g[i]));
        j->h[i] = j->g[i] * s * j->u[i];
    }
}

void ef_tr_swiglu_fwd(ef_pool *pool, float *h, const float *g, const float *u, int64_t n) {
    swiglu_job j = {.h = h, .g = g, .u = u, .n = n};
    ef_pool_run(pool, swiglu_fwd_worker, &j);
}

/* silu(g) = g·σ(g); silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
static void swiglu_bwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const swiglu_job *j = ctx;
    int64_t b, e;
    ef_split_range(j->n, ith, nth, &b, &e);
    for (int64_t i = b; i < e; i++) {
        const float g = j->g[i], s = 1.0f / (1.0f + expf(-g));
        j->dg[i] += j->dh[i] * j->u[i] * s * (1.0f + g * (1.0f - s));
        j->du[i] += j->dh[i] * g * s;
    }
}

void ef_tr_swiglu_bwd(ef_pool *pool, float *dg, float *du, const float *dh, const float *g, const float *u,
                      int64_t n) {
    swiglu_job j = {.dg = dg, .du = du, .dh = dh, .g = g, .u = u, .n = n};
    ef_pool_run(pool, swiglu_bwd_worker, &j);
}
