/* Inline NEON helpers shared by gemv_neon.c and gemm_neon.c: loading 8
 * weights of a row as F32 (F16 with fcvtl, BF16 with a 16-bit left shift),
 * zero-padded tails, and the one horizontal sum both kernels use so their
 * results agree bit for bit. 8 weights are two 4-lane registers (lo = k..k+3,
 * hi = k+4..k+7), each with its own accumulator. aarch64 only. */
#ifndef EF_BACKENDS_CPU_SIMD_NEON_H
#define EF_BACKENDS_CPU_SIMD_NEON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "cpu/silu.h"
#include "quant/types.h"

#define EF_NEON_INLINE static inline __attribute__((always_inline))

/* Two F32 halves of 8 consecutive values. */
typedef struct {
    float32x4_t lo, hi;
} ef_neon_f32x8;

/* 8 weights starting at element k of a row of `type` (F32, F16 or BF16). */
EF_NEON_INLINE ef_neon_f32x8 ef_neon_load_w8(uint32_t type, const void *row, int64_t k) {
    ef_neon_f32x8 v;
    if (type == EF_TYPE_F32) {
        v.lo = vld1q_f32((const float *)row + k);
        v.hi = vld1q_f32((const float *)row + k + 4);
        return v;
    }
    const uint16x8_t h = vld1q_u16((const uint16_t *)row + k); /* [8] u16 */
    if (type == EF_TYPE_F16) {
        const float16x8_t f = vreinterpretq_f16_u16(h);
        v.lo = vcvt_f32_f16(vget_low_f16(f));
        v.hi = vcvt_high_f32_f16(f);
        return v;
    }
    /* BF16 is the top half of an F32. */
    v.lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    v.hi = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
    return v;
}

/* The last len (< 8) weights from element k, lanes >= len zero. */
EF_NEON_INLINE ef_neon_f32x8 ef_neon_load_w_tail(uint32_t type, const void *row, int64_t k, int64_t len) {
    if (type == EF_TYPE_F32) {
        float tmp[8] = {0}; /* [8]: tail, zero-padded */
        memcpy(tmp, (const float *)row + k, (size_t)len * sizeof(float));
        return ef_neon_load_w8(type, tmp, 0);
    }
    uint16_t tmp[8] = {0}; /* [8]: tail, zero-padded (0 is +0.0 in F16 and BF16) */
    memcpy(tmp, (const uint16_t *)row + k, (size_t)len * sizeof(uint16_t));
    return ef_neon_load_w8(type, tmp, 0);
}

/* The last len (< 8) values of x from element k, lanes >= len zero. */
EF_NEON_INLINE ef_neon_f32x8 ef_neon_load_x_tail(const float *x, int64_t k, int64_t len) {
    return ef_neon_load_w_tail(EF_TYPE_F32, x, k, len);
}

/* acc += w * x, lane by lane (one rounding per lane). */
EF_NEON_INLINE ef_neon_f32x8 ef_neon_fma8(ef_neon_f32x8 acc, ef_neon_f32x8 w, ef_neon_f32x8 x) {
    acc.lo = vfmaq_f32(acc.lo, w.lo, x.lo);
    acc.hi = vfmaq_f32(acc.hi, w.hi, x.hi);
    return acc;
}

EF_NEON_INLINE ef_neon_f32x8 ef_neon_zero8(void) {
    ef_neon_f32x8 v = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    return v;
}

/* The sum of 8 lanes, always in this order: lo+hi, then pairwise (faddp). */
EF_NEON_INLINE float ef_neon_hsum8(ef_neon_f32x8 v) { return vaddvq_f32(vaddq_f32(v.lo, v.hi)); }

/* silu.h's ef_exp_poly_ref lane by lane (the same steps, so the same bits):
 * *n = rint(t·log2 e), returns exp(t − n·ln 2) [4]. */
EF_NEON_INLINE float32x4_t ef_neon_exp_poly(float32x4_t t, float32x4_t *n) {
    *n = vrndnq_f32(vmulq_n_f32(t, EF_SILU_LOG2E));
    float32x4_t r = vfmaq_n_f32(t, *n, -EF_SILU_LN2_HI);
    r = vfmaq_n_f32(r, *n, -EF_SILU_LN2_LO);
    float32x4_t p = vdupq_n_f32(EF_SILU_C7);
    p = vfmaq_f32(vdupq_n_f32(EF_SILU_C6), p, r);
    p = vfmaq_f32(vdupq_n_f32(EF_SILU_C5), p, r);
    p = vfmaq_f32(vdupq_n_f32(EF_SILU_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(EF_SILU_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(EF_SILU_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    return vfmaq_f32(vdupq_n_f32(1.0f), p, r);
}

#endif
