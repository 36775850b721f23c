/* NEON (aarch64) kernels of the sparse FFN decode (sparse_ops.h) for F32,
 * F16, Q8_0 and Q4_0 weights: the inner kernels under the shared loops of
 * sparse_ffn_drive.h. Gathered F32/F16 rows are summed as the dense NEON
 * GEMV sums a row (one 8-lane sum, tail zero-padded, the same horizontal
 * sum), so they give its bits; gathered Q8_0/Q4_0 rows reuse the fused
 * weight-only row kernels of the quantized matmul (qdot_neon.h). The
 * accumulation sums each output in the order of the x86 kernels: F32/F16
 * y, then four neuron rows, one FMA each; Q8_0/Q4_0 per block of 32 neurons
 * Σ a·code over its active rows ascending in registers (32 outputs at a
 * time, 8 accumulators of 4 lanes), then one FMA by the block's scale.
 * Advanced SIMD is part of every aarch64 processor: no extra flags;
 * elsewhere this file compiles to stubs. The scalar reference is
 * sparse_ffn.c. */
#include "cpu/sparse_ops.h"

#include "quant/types.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <math.h>

#include "base/fp16.h"
#include "cpu/qdot_neon.h"
#include "cpu/simd_neon.h"
#include "cpu/sparse_ffn_drive.h"

int ef_cpu_sparse_neon_built(void) { return 1; }

/* x · row for F32/F16 rows of n elements, as gemv_neon.c sums a row. */
EF_NEON_INLINE float dot_row_f(uint32_t type, const void *row, const float *x, int64_t n) {
    ef_neon_f32x8 acc = ef_neon_zero8(); /* [8] lane sums */
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) acc = ef_neon_fma8(acc, ef_neon_load_w8(type, row, k), ef_neon_load_w8(EF_TYPE_F32, x, k));
    if (k < n) acc = ef_neon_fma8(acc, ef_neon_load_w_tail(type, row, k, n - k), ef_neon_load_x_tail(x, k, n - k));
    return ef_neon_hsum8(acc);
}

/* x · row for every type the kernels take (ef_sparse_dot_fn). */
static float dot_row(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    switch (type) {
    case EF_TYPE_Q8_0: return ef_qrow_q8_0_f32_neon(row, x, n);
    case EF_TYPE_Q4_0: return ef_qrow_q4_0_f32_neon(row, x, n);
    default: return dot_row_f(type, row, x, n);
    }
}

void ef_cpu_sparse_rows_neon(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y) {
    ef_sparse_rows_drive(w, x, idx, k0, k1, y, dot_row);
}

/* 16 int8 codes as F32. v: [4][4] (elements 0..3, 4..7, 8..11, 12..15). */
EF_NEON_INLINE void codes16(int8x16_t q, float32x4_t v[4]) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q); /* [8] + [8] i16 */
    v[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    v[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    v[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    v[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

/* 32 codes of a column-blocked row as F32. Q8_0: int8 [32]; Q4_0: 16
 * bytes, low nibbles elements 0..15, high 16..31, value q − 8. v: [8][4]. */
EF_NEON_INLINE void codes32(int q8, const uint8_t *c, float32x4_t v[8]) {
    if (q8) {
        codes16(vld1q_s8((const int8_t *)c), v);
        codes16(vld1q_s8((const int8_t *)c + 16), v + 4);
        return;
    }
    const uint8x16_t raw = vld1q_u8(c); /* [16] bytes, two codes each */
    const int8x16_t eight = vdupq_n_s8(8);
    codes16(vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F))), eight), v);
    codes16(vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight), v + 4);
}

/* One block of 32 neurons over 32 outputs from o: acc = Σ_r a_r · codes_r
 * (8 independent FMA chains), then y[o..o+32) += scale · acc. */
EF_NEON_INLINE void block_cols(int q8, const uint8_t *const *rows, const float *ak, int n, const uint16_t *sc,
                               int64_t o, float *y) {
    float32x4_t acc[8]; /* [8][4] Σ a·code of outputs o.. */
    for (int i = 0; i < 8; i++) acc[i] = vdupq_n_f32(0.0f);
    for (int r = 0; r < n; r++) {
        float32x4_t v[8]; /* [8][4] codes of outputs o .. o + 31 */
        codes32(q8, q8 ? rows[r] + o : rows[r] + o / 2, v);
        for (int i = 0; i < 8; i++) acc[i] = vfmaq_n_f32(acc[i], v[i], ak[r]);
    }
    for (int i = 0; i < 8; i += 2) {
        const ef_neon_f32x8 s = ef_neon_load_w8(EF_TYPE_F16, sc, o + 4 * i); /* [8] the block's scales */
        float *yi = y + o + 4 * i;                                            /* [8] */
        vst1q_f32(yi, vfmaq_f32(vld1q_f32(yi), s.lo, acc[i]));
        vst1q_f32(yi + 4, vfmaq_f32(vld1q_f32(yi + 4), s.hi, acc[i + 1]));
    }
}

/* A block of 32 neurons over all outputs, 32 at a time (ef_sparse_block_fn). */
static void block_all(int q8, const uint8_t *const *rows, const float *a, int n, const uint16_t *sc, int64_t n_out,
                      float *y) {
    if (q8)
        for (int64_t o = 0; o < n_out; o += 32) block_cols(1, rows, a, n, sc, o, y);
    else
        for (int64_t o = 0; o < n_out; o += 32) block_cols(0, rows, a, n, sc, o, y);
}

/* y[0..n_out) += Σ_r a[r] · rows[r] for nr (1..4) F32/F16 rows, y then
 * rows 0..nr-1 per output (ef_sparse_axpy_fn; a scalar tail). */
static void axpy_f(uint32_t type, const uint8_t *const rows[4], const float a[4], int nr, int64_t n_out, float *y) {
    int64_t c = 0;
    for (; c + 8 <= n_out; c += 8) {
        ef_neon_f32x8 acc = ef_neon_load_w8(EF_TYPE_F32, y, c); /* [8] */
        for (int r = 0; r < nr; r++) {
            const ef_neon_f32x8 w = ef_neon_load_w8(type, rows[r], c); /* [8] */
            acc.lo = vfmaq_n_f32(acc.lo, w.lo, a[r]);
            acc.hi = vfmaq_n_f32(acc.hi, w.hi, a[r]);
        }
        vst1q_f32(y + c, acc.lo);
        vst1q_f32(y + c + 4, acc.hi);
    }
    for (; c < n_out; c++)
        for (int r = 0; r < nr; r++) {
            const float w = type == EF_TYPE_F32 ? ((const float *)rows[r])[c]
                                                : ef_f16_to_f32(((const uint16_t *)rows[r])[c]);
            y[c] = fmaf(a[r], w, y[c]);
        }
}

void ef_cpu_sparse_accum_neon(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y) {
    ef_sparse_accum_drive(d, idx, a, k0, k1, y, block_all, axpy_f);
}

#else /* not aarch64: the dispatcher never picks these */

int ef_cpu_sparse_neon_built(void) { return 0; }

void ef_cpu_sparse_rows_neon(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y) {
    (void)w, (void)x, (void)idx, (void)k0, (void)k1, (void)y;
}

void ef_cpu_sparse_accum_neon(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y) {
    (void)d, (void)idx, (void)a, (void)k0, (void)k1, (void)y;
}

#endif
