/* Prefill GEMM with AVX-512: y[t][r] = x[t] · W[r] for n tokens, F32, F16
 * and BF16 weights, and Q8_0 / Q4_0 weights in weight-only mode (their
 * exact d·q packed into the same F32 panel; qmatmul.c sends them here) (see
 * matmul_kernels.h; the AVX2 twin is gemm_avx2.c). The blocking loops are
 * gemm_driver.c's; this file holds the AVX-512 pieces it calls:
 *   pack    4 weight rows of a K chunk of KC elements → an F32 panel
 *           (converted once, reused by every token tile);
 *   tile    a 4-row × 6-token register tile of 16-lane accumulators
 *           (24 of the 32 zmm registers), 24 FMAs per 10 loads; on the
 *           last K chunk, the 4 rows' ef_avx512_hsum at once per token.
 * Each output is one 16-lane sum over k ascending, the tail masked to
 * zero, then ef_avx512_hsum — the order gemv_avx512.c uses — whatever the
 * block sizes or the thread split. */
#include "cpu/gemm_driver.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum {
    KC = 1024,              /* K chunk: panel = KC*4 floats (16 KiB, L1); fewer chunk ends to spill the tile */
    TILE_T = 6,             /* tokens per register tile */
    MAX_TB = 96,            /* most tokens per block (accumulators: MAX_TB*4*16 floats, 24 KiB) */
    L2_X_BYTES = 512 * 1024 /* x rows of one token block kept in L2 (AVX-512 parts have ≥ 1 MiB) */
};
_Static_assert(KC <= EF_GEMM_MAX_KC && KC % 16 == 0 && TILE_T <= EF_GEMM_MAX_TILE_T && MAX_TB <= EF_GEMM_MAX_TB,
               "the driver's stack buffers hold this level's blocks");

/* panel[s][i][16] = F32 of rows[i][k0 + 16s .. +16], zero past len (len ≤ KC).
 * panel: [KC/16][4][16]. */
EF_AVX512_INLINE void pack_panel(uint32_t type, const void *const *rows, int64_t k0, int64_t len,
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

/* Sums of panel rows i · x[t][k0 .. k0+len) for t < nt (1..6 tokens), from
 * zero or acc, to acc or reduced into y (ef_gemm_sink).
 * xs: nt token rows; acc: [nt][4][16] floats. */
EF_AVX512_INLINE void tile_4xT(const float *panel, const float *const *xs, int nt, int64_t k0,
                               int64_t len, float *acc, const ef_gemm_sink *sink) {
    __m512 a[TILE_T][4]; /* [token][row]: 16-lane sums */
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++)
            a[t][i] = sink->first ? _mm512_setzero_ps() : _mm512_load_ps(acc + (t * 4 + i) * 16);
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
    if (!sink->y) {
        for (int t = 0; t < nt; t++)
            for (int i = 0; i < 4; i++) _mm512_store_ps(acc + (t * 4 + i) * 16, a[t][i]);
        return;
    }
    const __mmask8 live = (__mmask8)((1u << sink->nr) - 1); /* rows past the group's end are dropped */
    for (int t = 0; t < nt; t++)
        _mm_mask_storeu_ps(sink->y + t * sink->out, live, ef_avx512_hsum4(a[t][0], a[t][1], a[t][2], a[t][3]));
}

/* Fixed tile widths so the compiler keeps the tile in registers. */
static void tile_4x1(const float *p, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(p, xs, 1, k0, len, acc, sink);
}
static void tile_4x2(const float *p, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(p, xs, 2, k0, len, acc, sink);
}
static void tile_4x3(const float *p, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(p, xs, 3, k0, len, acc, sink);
}
static void tile_4x4(const float *p, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(p, xs, 4, k0, len, acc, sink);
}
static void tile_4x5(const float *p, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(p, xs, 5, k0, len, acc, sink);
}
static void tile_4x6(const float *p, const float *const *xs, int64_t k0, int64_t len, float *acc,
                     const ef_gemm_sink *sink) {
    tile_4xT(p, xs, 6, k0, len, acc, sink);
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
static void pack_q8_0(const void *const *rows, int64_t k0, int64_t len, float *panel) {
    pack_panel(EF_TYPE_Q8_0, rows, k0, len, panel);
}
static void pack_q4_0(const void *const *rows, int64_t k0, int64_t len, float *panel) {
    pack_panel(EF_TYPE_Q4_0, rows, k0, len, panel);
}

static const ef_gemm_level k_avx512 = {
    .lanes = 16,
    .tile_t = TILE_T,
    .kc = KC,
    .max_tb = MAX_TB,
    .l2_x_bytes = L2_X_BYTES,
    .tile = {NULL, tile_4x1, tile_4x2, tile_4x3, tile_4x4, tile_4x5, tile_4x6},
};

void ef_cpu_gemm_avx512(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    ef_gemm_pack_fn pack = NULL;
    switch (w->type) {
    case EF_TYPE_F32: pack = pack_f32; break;
    case EF_TYPE_F16: pack = pack_f16; break;
    case EF_TYPE_BF16: pack = pack_bf16; break;
    case EF_TYPE_Q8_0: pack = pack_q8_0; break;
    case EF_TYPE_Q4_0: pack = pack_q4_0; break;
    default: return; /* the dispatcher never sends other types */
    }
    ef_gemm_run(&k_avx512, pack, w, x, n, y, r0, r1);
}

#else /* built without the AVX-512 flags: the level is never detected */

void ef_cpu_gemm_avx512(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}

#endif
