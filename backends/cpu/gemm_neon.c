/* Prefill GEMM with NEON (aarch64): y[t][r] = x[t] · W[r] for n tokens (see
 * matmul_kernels.h). The blocking loops are gemm_driver.c's; this file
 * holds the NEON pieces it calls:
 *   pack    4 weight rows of a K chunk of KC elements → an F32 panel
 *           (converted once, reused by every token tile);
 *   tile    a 4-row × 2-token register tile of 8-lane accumulators
 *           (16 registers, 8 for the panel, 4 for x: 28 of 32); on the
 *           last K chunk, ef_neon_hsum8 of each into y.
 * Each output is one 8-lane sum over k ascending with the tail zero-padded,
 * then ef_neon_hsum8 — the order gemv_neon.c uses — whatever the block
 * sizes. */
#include "cpu/gemm_driver.h"
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
_Static_assert(KC <= EF_GEMM_MAX_KC && KC % 8 == 0 && TILE_T <= EF_GEMM_MAX_TILE_T && MAX_TB <= EF_GEMM_MAX_TB,
               "the driver's stack buffers hold this level's blocks");

/* panel[s][i][8] = F32 of rows[i][k0 + 8s .. +8], zero past len (len <= KC).
 * panel: [KC/8][4][8]. */
EF_NEON_INLINE void pack_panel(uint32_t type, const void *const *rows, int64_t k0, int64_t len,
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

/* Sums of panel rows i · x[t][k0 .. k0+len) for t < nt (1 or 2 tokens),
 * from zero or acc, to acc or reduced into y (ef_gemm_sink).
 * xs: nt token rows; acc: [nt][4][8] floats. */
EF_NEON_INLINE void tile_4xT(const float *panel, const float *const *xs, int nt, int64_t k0,
                             int64_t len, float *acc, const ef_gemm_sink *sink) {
    ef_neon_f32x8 a[TILE_T][4]; /* [token][row]: 8-lane sums */
    const ef_neon_f32x8 zero = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 4; i++) a[t][i] = sink->first ? zero : ef_neon_load_w8(EF_TYPE_F32, acc, (t * 4 + i) * 8);
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
            if (sink->y) {
                if (i < sink->nr) sink->y[t * sink->out + i] = ef_neon_hsum8(a[t][i]);
            } else {
                vst1q_f32(acc + (t * 4 + i) * 8, a[t][i].lo);
                vst1q_f32(acc + (t * 4 + i) * 8 + 4, a[t][i].hi);
            }
        }
}

/* Fixed tile widths so the compiler keeps the tile in registers. */
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

static const ef_gemm_level k_neon = {
    .lanes = 8,
    .tile_t = TILE_T,
    .kc = KC,
    .max_tb = MAX_TB,
    .l2_x_bytes = L2_X_BYTES,
    .tile = {NULL, tile_4x1, tile_4x2},
};

void ef_cpu_gemm_neon(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    const ef_gemm_pack_fn pack = w->type == EF_TYPE_F32    ? pack_f32
                                 : w->type == EF_TYPE_F16  ? pack_f16
                                 : w->type == EF_TYPE_BF16 ? pack_bf16
                                                           : NULL;
    if (pack) ef_gemm_run(&k_neon, pack, w, x, n, y, r0, r1); /* the dispatcher never sends other types */
}

#else /* not aarch64: the dispatcher never picks a NEON level */

void ef_cpu_gemm_neon(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}

#endif
