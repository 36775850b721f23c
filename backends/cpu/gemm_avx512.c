/* Prefill GEMM with AVX-512: y[t][r] = x[t] · W[r] for n tokens, F32, F16
 * and BF16 weights, and Q8_0 / Q4_0 weights in weight-only mode (their
 * exact d·q packed into the same F32 panel; qmatmul.c sends them here) (see
 * matmul_kernels.h; the AVX2 twin is gemm_avx2.c).
 *
 * Blocking, outermost first:
 *   token block  TB tokens whose x rows ([TB][in] floats) stay in L2 while
 *                every weight row of this worker streams past once;
 *   row group    4 weight rows, packed per K chunk of KC elements into an
 *                F32 panel (converted once, reused by every token tile);
 *   token tile   6 tokens: a 4×6 register tile of 16-lane accumulators
 *                (24 of the 32 zmm registers), 24 FMAs per 10 loads.
 * The accumulators of a row group live in a stack array between K chunks,
 * so each output is still one 16-lane sum over k ascending, the tail
 * masked to zero, then ef_avx512_hsum — the order gemv_avx512.c uses —
 * whatever the block sizes or the thread split. */
#include "cpu/matmul_kernels.h"

#include <string.h>

#include "quant/types.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum {
    KC = 1024,              /* K chunk: panel = KC*4 floats (16 KiB, L1); fewer chunk ends to spill the tile */
    TILE_T = 6,             /* tokens per register tile */
    MAX_TB = 96,            /* most tokens per block (accumulators: MAX_TB*4*16 floats, 24 KiB) */
    L2_X_BYTES = 512 * 1024 /* x rows of one token block kept in L2 (AVX-512 parts have ≥ 1 MiB) */
};

/* panel[s][i][16] = F32 of rows[i][k0 + 16s .. +16], zero past len (len ≤ KC).
 * panel: [KC/16][4][16]. */
EF_AVX512_INLINE void pack_panel(uint32_t type, const void *const rows[4], int64_t k0, int64_t len,
                                 float *panel) {
    int64_t s = 0;
    if (ef_avx512_dense_q(type)) /* whole blocks of 32 (k0 and len are multiples of 32) */
        for (; 16 * s + 32 <= len; s += 2)
            for (int i = 0; i < 4; i++) {
                __m512 w0, w1; /* [16], [16] */
                ef_avx512_load_q32(type, rows[i], k0 + 16 * s, &w0, &w1);
                _mm512_store_ps(panel + (s * 4 + i) * 16, w0);
                _mm512_store_ps(panel + ((s + 1) * 4 + i) * 16, w1);
            }
    for (; 16 * s + 16 <= len; s++)
        for (int i = 0; i < 4; i++)
            _mm512_store_ps(panel + (s * 4 + i) * 16, ef_avx512_load_w16(type, rows[i], k0 + 16 * s));
    if (16 * s < len)
        for (int i = 0; i < 4; i++)
            _mm512_store_ps(panel + (s * 4 + i) * 16,
                            ef_avx512_load_w_tail(type, rows[i], k0 + 16 * s, len - 16 * s));
}

/* acc[t][i] += panel rows i · x[t][k0 .. k0+len) for t < nt (1..6 tokens).
 * xs: nt token rows; acc: [nt][4][16] floats. */
EF_AVX512_INLINE void tile_4xT(const float *panel, const float *const xs[TILE_T], int nt, int64_t k0,
                               int64_t len, float *acc) {
    __m512 a[TILE_T][4]; /* [token][row]: 16-lane sums */
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++) a[t][i] = _mm512_load_ps(acc + (t * 4 + i) * 16);
    int64_t s = 0;
    for (; 16 * s + 16 <= len; s++) {
        const __m512 p0 = _mm512_load_ps(panel + (s * 4 + 0) * 16); /* [16] of row 0 */
        const __m512 p1 = _mm512_load_ps(panel + (s * 4 + 1) * 16);
        const __m512 p2 = _mm512_load_ps(panel + (s * 4 + 2) * 16);
        const __m512 p3 = _mm512_load_ps(panel + (s * 4 + 3) * 16);
        for (int t = 0; t < nt; t++) {
            const __m512 xv = _mm512_loadu_ps(xs[t] + k0 + 16 * s); /* [16] of token t */
            a[t][0] = _mm512_fmadd_ps(p0, xv, a[t][0]);
            a[t][1] = _mm512_fmadd_ps(p1, xv, a[t][1]);
            a[t][2] = _mm512_fmadd_ps(p2, xv, a[t][2]);
            a[t][3] = _mm512_fmadd_ps(p3, xv, a[t][3]);
        }
    }
    if (16 * s < len) { /* tail: panel lanes past the end are 0, x lanes masked to 0 */
        const __mmask16 m = ef_avx512_first16(len - 16 * s);
        for (int t = 0; t < nt; t++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, xs[t] + k0 + 16 * s);
            for (int i = 0; i < 4; i++)
                a[t][i] = _mm512_fmadd_ps(_mm512_load_ps(panel + (s * 4 + i) * 16), xv, a[t][i]);
        }
    }
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++) _mm512_store_ps(acc + (t * 4 + i) * 16, a[t][i]);
}

/* Fixed tile widths so the compiler keeps the tile in registers. */
typedef void (*tile_fn)(const float *panel, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc);
static void tile_4x1(const float *p, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(p, xs, 1, k0, len, acc);
}
static void tile_4x2(const float *p, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(p, xs, 2, k0, len, acc);
}
static void tile_4x3(const float *p, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(p, xs, 3, k0, len, acc);
}
static void tile_4x4(const float *p, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(p, xs, 4, k0, len, acc);
}
static void tile_4x5(const float *p, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(p, xs, 5, k0, len, acc);
}
static void tile_4x6(const float *p, const float *const xs[TILE_T], int64_t k0, int64_t len, float *acc) {
    tile_4xT(p, xs, 6, k0, len, acc);
}
static const tile_fn k_tiles[TILE_T + 1] = {NULL, tile_4x1, tile_4x2, tile_4x3, tile_4x4, tile_4x5, tile_4x6};

/* Tokens per block: as many x rows as fit in L2_X_BYTES, a multiple of the tile. */
static int64_t token_block(int64_t in) {
    int64_t tb = L2_X_BYTES / (in * (int64_t)sizeof(float));
    tb = tb / TILE_T * TILE_T;
    if (tb < TILE_T) tb = TILE_T;
    if (tb > MAX_TB) tb = MAX_TB;
    return tb;
}

EF_AVX512_INLINE void gemm_rows(uint32_t type, const ef_tensor *w, const float *x, int32_t n, float *y,
                                int64_t r0, int64_t r1) {
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(type, in);
    const uint8_t *base = w->data;
    const int64_t tb_max = token_block(in);
    float panel[KC / 16 * 4 * 16] __attribute__((aligned(64))); /* [KC/16][4][16]: packed weights */
    float acc[MAX_TB * 4 * 16] __attribute__((aligned(64)));    /* [TB][4][16]: lane sums */

    for (int64_t t0 = 0; t0 < n; t0 += tb_max) {
        const int64_t tb = n - t0 < tb_max ? n - t0 : tb_max;
        for (int64_t r = r0; r < r1; r += EF_MATMUL_ROW_GROUP) {
            const int64_t nr = r1 - r < EF_MATMUL_ROW_GROUP ? r1 - r : EF_MATMUL_ROW_GROUP;
            const void *rows[4]; /* a short group repeats its last row; those sums are dropped */
            for (int i = 0; i < 4; i++) rows[i] = base + (uint64_t)(r + (i < nr ? i : nr - 1)) * row_bytes;
            memset(acc, 0, (size_t)tb * 4 * 16 * sizeof(float));
            for (int64_t k0 = 0; k0 < in; k0 += KC) {
                const int64_t len = in - k0 < KC ? in - k0 : KC;
                pack_panel(type, rows, k0, len, panel);
                for (int64_t t = 0; t < tb; t += TILE_T) {
                    const int64_t nt = tb - t < TILE_T ? tb - t : TILE_T;
                    const float *xs[TILE_T]; /* token rows of this tile */
                    for (int j = 0; j < TILE_T; j++) xs[j] = x + (t0 + t + (j < nt ? j : 0)) * in;
                    k_tiles[nt](panel, xs, k0, len, acc + t * 4 * 16);
                }
            }
            for (int64_t t = 0; t < tb; t++)
                for (int64_t i = 0; i < nr; i++)
                    y[(t0 + t) * out + r + i] = ef_avx512_hsum(_mm512_load_ps(acc + (t * 4 + i) * 16));
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
static void gemm_q8_0(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    gemm_rows(EF_TYPE_Q8_0, w, x, n, y, r0, r1);
}
static void gemm_q4_0(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    gemm_rows(EF_TYPE_Q4_0, w, x, n, y, r0, r1);
}

void ef_cpu_gemm_avx512(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: gemm_f32(w, x, n, y, r0, r1); break;
    case EF_TYPE_F16: gemm_f16(w, x, n, y, r0, r1); break;
    case EF_TYPE_BF16: gemm_bf16(w, x, n, y, r0, r1); break;
    case EF_TYPE_Q8_0: gemm_q8_0(w, x, n, y, r0, r1); break;
    case EF_TYPE_Q4_0: gemm_q4_0(w, x, n, y, r0, r1); break;
    default: break; /* the dispatcher never sends other types */
    }
}

#else /* built without the AVX-512 flags: the level is never detected */

void ef_cpu_gemm_avx512(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}

#endif
