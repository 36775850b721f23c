/* Prefill GEMM with AVX2: y[t][r] = x[t] · W[r] for n tokens (see
 * matmul_kernels.h). The blocking loops are gemm_driver.c's; this file
 * holds the AVX2 pieces it calls:
 *   pack    4 weight rows of a K chunk of KC elements → an F32 panel
 *           (converted once, reused by every token tile);
 *   tile    a 4-row × 3-token register tile of 8-lane accumulators,
 *           12 FMAs per 7 loads; on the last K chunk, the 4 rows'
 *           ef_avx2_hsum at once per token.
 * Each output is one 8-lane sum over k ascending, the tail zero, then
 * ef_avx2_hsum: the order gemv_avx2.c uses, whatever the block sizes. */
#include "cpu/gemm_driver.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

enum {
    KC = 512,          /* K chunk: panel = KC*4 floats (8 KiB, L1); fewer tile calls per row group */
    TILE_T = 3,        /* tokens per register tile */
    MAX_TB = 96,       /* most tokens per block (accumulators: MAX_TB*4*8 floats, 12 KiB) */
    L2_X_BYTES = 256 * 1024 /* x rows of one token block kept in L2 */
};
_Static_assert(KC <= EF_GEMM_MAX_KC && KC % 8 == 0 && TILE_T <= EF_GEMM_MAX_TILE_T && MAX_TB <= EF_GEMM_MAX_TB,
               "the driver's stack buffers hold this level's blocks");

/* panel[s][i][8] = F32 of rows[i][k0 + 8s .. +8], zero past len (len ≤ KC).
 * panel: [KC/8][4][8]. */
EF_AVX2_INLINE void pack_panel(uint32_t type, const void *const *rows, int64_t k0, int64_t len,
                               float *panel) {
    int64_t s = 0;
    for (; 8 * s + 8 <= len; s++)
        for (int i = 0; i < 4; i++)
            _mm256_storeu_ps(panel + (s * 4 + i) * 8, ef_avx2_load_w8(type, rows[i], k0 + 8 * s));
    if (8 * s < len)
        for (int i = 0; i < 4; i++)
            _mm256_storeu_ps(panel + (s * 4 + i) * 8, ef_avx2_load_w_tail(type, rows[i], k0 + 8 * s, len - 8 * s));
}

/* Sums of panel rows i · x[t][k0 .. k0+len) for t < nt (1..3 tokens), from
 * zero or acc, to acc or reduced into y (ef_gemm_sink).
 * xs: nt token rows; acc: [nt][4][8] floats. */
EF_AVX2_INLINE void tile_4xT(const float *panel, const float *const *xs, int nt, int64_t k0,
                             int64_t len, float *acc, const ef_gemm_sink *sink) {
    __m256 a[TILE_T][4]; /* [token][row]: 8-lane sums */
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++)
            a[t][i] = sink->first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + (t * 4 + i) * 8);
    int64_t s = 0;
    for (; 8 * s + 8 <= len; s++) {
        __m256 xv[TILE_T]; /* [token][8] */
        for (int t = 0; t < nt; t++) xv[t] = _mm256_loadu_ps(xs[t] + k0 + 8 * s);
        for (int i = 0; i < 4; i++) {
            const __m256 p = _mm256_loadu_ps(panel + (s * 4 + i) * 8); /* [8] of row i */
            for (int t = 0; t < nt; t++) a[t][i] = _mm256_fmadd_ps(p, xv[t], a[t][i]);
        }
    }
    if (8 * s < len) { /* tail: panel lanes past the end are 0, x lanes masked to 0 */
        const __m256i mask = ef_avx2_first_lanes(len - 8 * s);
        __m256 xv[TILE_T];
        for (int t = 0; t < nt; t++) xv[t] = _mm256_maskload_ps(xs[t] + k0 + 8 * s, mask);
        for (int i = 0; i < 4; i++) {
            const __m256 p = _mm256_loadu_ps(panel + (s * 4 + i) * 8);
            for (int t = 0; t < nt; t++) a[t][i] = _mm256_fmadd_ps(p, xv[t], a[t][i]);
        }
    }
    if (!sink->y) {
        for (int t = 0; t < nt; t++)
            for (int i = 0; i < 4; i++) _mm256_storeu_ps(acc + (t * 4 + i) * 8, a[t][i]);
        return;
    }
    const __m128i live = _mm256_castsi256_si128(ef_avx2_first_lanes(sink->nr)); /* rows past the group's end */
    for (int t = 0; t < nt; t++)
        _mm_maskstore_ps(sink->y + t * sink->out, live, ef_avx2_hsum4(a[t][0], a[t][1], a[t][2], a[t][3]));
}

/* Fixed tile widths so the compiler keeps the tile in registers. */
static void tile_4x3(const float *panel, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(panel, xs, 3, k0, len, acc, sink);
}
static void tile_4x2(const float *panel, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(panel, xs, 2, k0, len, acc, sink);
}
static void tile_4x1(const float *panel, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(panel, xs, 1, k0, len, acc, sink);
}

static void pack_f32(const void *const *rows, int64_t k0, int64_t len, float *panel) {
    pack_panel(EF_TYPE_F32, rows, k0, len, panel);
}
static void pack_f16(const void *const *rows, int64_t k0, int64_t len, float *panel) {
    pack_panel(EF_TYPE_F16, rows, k0, len, panel);
}
static void pack_bf16(const void *const *rows, int64_t k0, int64_t len, float *panel) {
    pack_panel(EF_TYPE_BF16, rows, k0, len, panel);
}

static const ef_gemm_level k_avx2 = {
    .lanes = 8,
    .tile_t = TILE_T,
    .kc = KC,
    .max_tb = MAX_TB,
    .l2_x_bytes = L2_X_BYTES,
    .tile = {NULL, tile_4x1, tile_4x2, tile_4x3},
};

void ef_cpu_gemm_avx2(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    const ef_gemm_pack_fn pack = w->type == EF_TYPE_F32    ? pack_f32
                                 : w->type == EF_TYPE_F16  ? pack_f16
                                 : w->type == EF_TYPE_BF16 ? pack_bf16
                                                           : NULL;
    if (pack) ef_gemm_run(&k_avx2, pack, w, x, n, y, r0, r1); /* the dispatcher never sends other types */
}

#else /* built without AVX2 flags: the dispatcher stays on the reference */

void ef_cpu_gemm_avx2(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}

#endif
