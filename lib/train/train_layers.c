/* Forward/backward pairs of the position-wise layers: embedding, RMSNorm,
 * the linear projection and SwiGLU. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "quant/types.h"
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

void ef_tr_rmsnorm_fwd(float *out, float *rstd, const float *x, const float *w, int64_t N,
                       int32_t C, float eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x + n * C; /* [C] */
        float *on = out + n * C;     /* [C] */
        double ss = 0.0; /* double, as the engine's kernel */
        for (int32_t i = 0; i < C; i++) ss += (double)xn[i] * xn[i];
        float r = (float)(1.0 / sqrt(ss / C + eps));
        rstd[n] = r;
        for (int32_t i = 0; i < C; i++) on[i] = xn[i] * r * w[i];
    }
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

/* The projections run on the CPU backend's GEMM (ef_cpu_matmul, which gives
 * the same bits for any thread count). The backward passes are GEMMs too,
 * over transposed copies, in chunks of MM_CHUNK output rows so the copies
 * stay small whatever the vocabulary:
 *   dx[N, I] += dout[N, Oc] · W[Oc, I]  = GEMM(x: dout chunk, W: Wᵀ chunk {Oc, I})
 *   dW[Oc, I] += doutᵀ[Oc, N] · x[N, I] = GEMM(x: doutᵀ chunk, W: xᵀ {N, I}) */
#define MM_CHUNK 2048

static ef_tensor f32_matrix(const float *data, int64_t n_in, int64_t n_out) {
    ef_tensor t = {.name = "train", .type = EF_TYPE_F32, .n_dims = 2,
                   .ne = {n_in, n_out, 1, 1}, .data = data,
                   .nbytes = (uint64_t)(n_in * n_out) * sizeof(float)};
    return t;
}

void ef_tr_matmul_fwd(ef_pool *pool, float *out, const float *x, const float *W, int64_t N,
                      int32_t I, int32_t O) {
    const ef_tensor w = f32_matrix(W, I, O);
    ef_cpu_matmul(pool, &w, x, (int32_t)N, out);
}

size_t ef_tr_matmul_work_floats(int64_t N, int32_t I, int32_t O) {
    const size_t oc = (size_t)(O < MM_CHUNK ? O : MM_CHUNK), n = (size_t)N, i = (size_t)I;
    return i * oc    /* wT   {Oc, I} */
           + n * oc  /* dc   [N, Oc] */
           + n * i   /* tmpx [N, I] */
           + oc * n  /* dT   [Oc, N] */
           + i * n   /* xT   [I, N] */
           + oc * i; /* tmpw [Oc, I] */
}

/* dst[c, r] = src[r, c] for r < rows, c < cols (row strides in floats), in
 * 8×8 tiles: row strides are often powers of two, which map a taller
 * tile's lines onto one cache set. */
#define TR_TILE 8
static void transpose(float *dst, int64_t dst_stride, const float *src, int64_t src_stride,
                      int64_t rows, int64_t cols) {
    for (int64_t c0 = 0; c0 < cols; c0 += TR_TILE)
        for (int64_t r0 = 0; r0 < rows; r0 += TR_TILE) {
            const int64_t r1 = r0 + TR_TILE < rows ? r0 + TR_TILE : rows;
            const int64_t c1 = c0 + TR_TILE < cols ? c0 + TR_TILE : cols;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++) dst[c * dst_stride + r] = src[r * src_stride + c];
        }
}

void ef_tr_matmul_bwd(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                      const float *W, int64_t N, int32_t I, int32_t O, float *work) {
    const int64_t OC = O < MM_CHUNK ? O : MM_CHUNK;
    float *wT = work;                  /* [I, Oc]: row i holds W[o0.., i] */
    float *dc = wT + I * OC;           /* [N, Oc]: dout columns o0.. */
    float *tmpx = dc + N * OC;         /* [N, I] */
    float *dT = tmpx + N * I;          /* [Oc, N]: doutᵀ rows o0.. */
    float *xT = dT + OC * N;           /* [I, N] */
    float *tmpw = xT + (int64_t)I * N; /* [Oc, I] */
    transpose(xT, N, x, I, N, I);
    for (int64_t o0 = 0; o0 < O; o0 += OC) {
        const int64_t oc = o0 + OC <= O ? OC : O - o0;
        /* one chunk: dout itself; else its columns o0.. */
        const float *dcols = dc;
        if (oc == O) {
            dcols = dout;
        } else {
            for (int64_t n = 0; n < N; n++)
                memcpy(dc + n * oc, dout + n * O + o0, sizeof(float) * (size_t)oc);
        }
        transpose(dT, N, dcols, oc, N, oc);
        if (dx) {
            transpose(wT, oc, W + o0 * I, I, oc, I);
            const ef_tensor wt = f32_matrix(wT, oc, I);
            ef_cpu_matmul(pool, &wt, dcols, (int32_t)N, tmpx);
            for (int64_t k = 0; k < N * I; k++) dx[k] += tmpx[k];
        }
        const ef_tensor xt = f32_matrix(xT, N, I);
        ef_cpu_matmul(pool, &xt, dT, (int32_t)oc, tmpw);
        float *dWc = dW + o0 * I; /* [oc, I] */
        for (int64_t k = 0; k < oc * I; k++) dWc[k] += tmpw[k];
    }
}

void ef_tr_swiglu_fwd(float *h, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + expf(-g[i]));
        h[i] = g[i] * s * u[i];
    }
}

/* silu(g) = g·σ(g); silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
void ef_tr_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u,
                      int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + expf(-g[i]));
        dg[i] += dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] += dh[i] * g[i] * s;
    }
}
