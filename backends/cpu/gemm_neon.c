/* Prefill GEMM with NEON (aarch64): y[t][r] = x[t] · W[r] for n tokens (see
 * matmul_kernels.h).
 *
 * Blocking, outermost first:
 *   token block  TB tokens whose x rows ([TB][in] floats) stay in L2 while
 *                every weight row of this worker streams past once;
 *   row group    4 weight rows, packed per K chunk of KC elements into an
 *                F32 panel (converted once, reused by every token tile);
 *   token tile   2 tokens: a 4×2 register tile of 8-lane accumulators
 *                (16 registers, 8 for the panel, 4 for x: 28 of 32).
 * The accumulators of a row group live in a small stack array between K
 * chunks, so each output is still one 8-lane sum over k ascending with the
 * tail zero-padded — the order gemv_neon.c uses — whatever the block sizes. */
#include "cpu/matmul_kernels.h"

#include "quant/types.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include "cpu/simd_neon.h"

enum {
    KC = 256,          /* K chunk: panel = KC*4 floats (4 KiB) */
    TILE_T = 2,        /* tokens per register tile */
    MAX_TB = 96,       /* most tokens per block (accumulators: MAX_TB*4*8 floats, 12 KiB) */
    L2_X_BYTES = 256 * 1024 /* x rows of one token block kept in L2 */
};

/* panel[s][i][8] = F32 of rows[i][k0 + 8s .. +8], zero past len (len <= KC).
 * panel: [KC/8][4][8]. */
EF_NEON_INLINE void pack_panel(uint32_t type, const void *const rows[4], int64_t k0, int64_t len,
                               float *panel) {
    int64_t s = 0;
    for (; 8 * s + 8 <= len; s++)
        for (int i = 0; i < 4; i++) {
            const ef_neon_f32x8 v = ef_neon_load_w8(type, rows[i], k0 + 8 * s);
            vst1q_f32(panel + (s * 4 + i) * 8, v.lo);
            vst1q_f32(panel + (s * 4 + i) * 8 + 4, v.hi);
        }
    if (8 * s < len)
        for (int i = 0; i < 4; i++) {
            const ef_neon_f32x8 v = ef_neon_load_w_tail(type, rows[i], k0 + 8 * s, len - 8 * s);
            vst1q_f32(panel + (s * 4 + i) * 8, v.lo);
            vst1q_f32(panel + (s * 4 + i) * 8 + 4, v.hi);
        }
}

/* acc[t][i] += panel rows i · x[t][k0 .. k0+len) for t < nt (1 or 2 tokens).
 * xs: nt token rows; acc: [nt][4][8] floats. */
EF_NEON_INLINE void tile_4xT(const float *panel, const float *const xs[TILE_T], int nt, int64_t k0,
                             int64_t len, float *acc) {
    ef_neon_f32x8 a[TILE_T][4]; /* [token][row]: 8-lane sums */
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++) a[t][i] = ef_neon_load_w8(EF_TYPE_F32, acc, (t * 4 + i) * 8);
    int64_t s = 0;
    for (; 8 * s + 8 <= len; s++) {
        ef_neon_f32x8 xv[TILE_T]; /* [token][8] */
        for (int t = 0; t < nt; t++) xv[t] = ef_neon_load_w8(EF_TYPE_F32, xs[t], k0 + 8 * s);
        for (int i = 0; i < 4; i++) {
            const ef_neon_f32x8 p = ef_neon_load_w8(EF_TYPE_F32, panel, (s * 4 + i) * 8); /* [8] of row i */
            for (int t = 0; t < nt; t++) a[t][i] = ef_neon_fma8(a[t][i], p, xv[t]);
        }
    }
    if (8 * s < len) { /* tail: panel lanes past the end are 0, x lanes padded with 0 */
        ef_neon_f32x8 xv[TILE_T];
        for (int t = 0; t < nt; t++) xv[t] = ef_neon_load_x_tail(xs[t], k0 + 8 * s, len - 8 * s);
        for (int i = 0; i < 4; i++) {
            const ef_neon_f32x8 p = ef_neon_load_w8(EF_TYPE_F32, panel, (s * 4 + i) * 8);
            for (int t = 0; t < nt; t++) a[t][i] = ef_neon_fma8(a[t][i], p, xv[t]);
        }
    }
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++) {
            vst1q_f32(acc + (t * 4 + i) * 8, a[t][i].lo);
            vst1q_f32(acc + (t * 4 + i) * 8 + 4, a[t][i].hi);
        }
}

/* Fixed tile widths so the compiler keeps the tile in registers. */
static void tile_4x2(const float *panel, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(panel, xs, 2, k0, len, acc);
}
static void tile_4x1(const float *panel, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(panel, xs, 1, k0, len, acc);
}

/* Tokens per block: as many x rows as fit in L2_X_BYTES, a multiple of the tile. */
static int64_t token_block(int64_t in) {
    int64_t tb = L2_X_BYTES / (in * (int64_t)sizeof(float));
    tb = tb / TILE_T * TILE_T;
    if (tb < TILE_T) tb = TILE_T;
    if (tb > MAX_TB) tb = MAX_TB;
    return tb;
}

EF_NEON_INLINE void gemm_rows(uint32_t type, const ef_tensor *w, const float *x, int32_t n, float *y,
                              int64_t r0, int64_t r1) {
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(type, in);
    const uint8_t *base = w->data;
    const int64_t tb_max = token_block(in);
    float panel[KC / 8 * 4 * 8] __attribute__((aligned(16))); /* [KC/8][4][8]: packed weights */
    float acc[MAX_TB * 4 * 8] __attribute__((aligned(16)));   /* [TB][4][8]: lane sums */

    for (int64_t t0 = 0; t0 < n; t0 += tb_max) {
        const int64_t tb = n - t0 < tb_max ? n - t0 : tb_max;
        for (int64_t r = r0; r < r1; r += EF_MATMUL_ROW_GROUP) {
            const int64_t nr = r1 - r < EF_MATMUL_ROW_GROUP ? r1 - r : EF_MATMUL_ROW_GROUP;
            const void *rows[4]; /* a short group repeats its last row; those sums are dropped */
            for (int i = 0; i < 4; i++) rows[i] = base + (uint64_t)(r + (i < nr ? i : nr - 1)) * row_bytes;
            memset(acc, 0, (size_t)tb * 4 * 8 * sizeof(float));
            for (int64_t k0 = 0; k0 < in; k0 += KC) {
                const int64_t len = in - k0 < KC ? in - k0 : KC;
                pack_panel(type, rows, k0, len, panel);
                for (int64_t t = 0; t < tb; t += TILE_T) {
                    const int64_t nt = tb - t < TILE_T ? tb - t : TILE_T;
                    const float *xs[TILE_T]; /* token rows of this tile */
                    for (int j = 0; j < TILE_T; j++) xs[j] = x + (t0 + t + (j < nt ? j : 0)) * in;
                    float *tile_acc = acc + t * 4 * 8;
                    if (nt == 2) tile_4x2(panel, xs, k0, len, tile_acc);
                    else tile_4x1(panel, xs, k0, len, tile_acc);
                }
            }
            for (int64_t t = 0; t < tb; t++)
                for (int64_t i = 0; i < nr; i++)
                    y[(t0 + t) * out + r + i] = ef_neon_hsum8(ef_neon_load_w8(EF_TYPE_F32, acc, (t * 4 + i) * 8));
        }
    }
}

static void gemm_f32(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    gemm_rows(EF_TYPE_F32, w, x, n, y, r0, r1);
}
static void gemm_f16(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    gemm_rows(EF_TYPE_F16, w, x, n, y, r0, r1);
}
static void gemm_bf16(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    gemm_rows(EF_TYPE_BF16, w, x, n, y, r0, r1);
}

void ef_cpu_gemm_neon(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: gemm_f32(w, x, n, y, r0, r1); break;
    case EF_TYPE_F16: gemm_f16(w, x, n, y, r0, r1); break;
    case EF_TYPE_BF16: gemm_bf16(w, x, n, y, r0, r1); break;
    default: break; /* the dispatcher never sends other types */
    }
}

#else /* not aarch64: the dispatcher never picks a NEON level */

void ef_cpu_gemm_neon(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}

#endif
