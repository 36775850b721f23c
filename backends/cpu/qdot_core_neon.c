/* NEON dot products over unpacked groups (see qdot.h, qdot_neon.h; scalar
 * references in qdot_core.c).
 *   weight-only: codes → F32 in registers (sxtl, scvtf), one FMA per 4
 *     weights forms d*scale*q - dmin*min, a second multiplies by x; 8 lanes
 *     of sums, so it differs from the reference by rounding order only;
 *   integer-dot: int8×int8 → int16 products (smull), pairs summed into
 *     int32 lanes (sadalp), the two 16-element halves weighted by their
 *     scales, then one exact integer per chunk and the reference's float
 *     step (ef_qdot_int_chunk): the same bits as ef_qdot_int_scalar. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

float ef_qdot_f32_neon(const ef_qgroup_w *g, const float *x, int32_t n32) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f); /* [4] + [4] lane sums */
    for (int32_t c = 0; c < n32; c++) {
        for (int h = 0; h < 2; h++) { /* the chunk's two 16-element halves */
            const int s = 2 * c + h;
            const float32x4_t coef = vdupq_n_f32(g->d[c] * (float)g->scale[s]);    /* [4] */
            const float32x4_t noff = vdupq_n_f32(-(g->dmin[c] * (float)g->min[s])); /* [4] */
            const int8x16_t q8 = vld1q_s8(g->q + 16 * s);                           /* [16] i8 */
            const int16x8_t q_lo = vmovl_s8(vget_low_s8(q8)), q_hi = vmovl_high_s8(q8); /* [8] i16 each */
            const float32x4_t q0 = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q_lo)));   /* [4] */
            const float32x4_t q1 = vcvtq_f32_s32(vmovl_high_s16(q_lo));
            const float32x4_t q2 = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q_hi)));
            const float32x4_t q3 = vcvtq_f32_s32(vmovl_high_s16(q_hi));
            const float *xs = x + 16 * s; /* [16] */
            acc0 = vfmaq_f32(acc0, vfmaq_f32(noff, q0, coef), vld1q_f32(xs));
            acc1 = vfmaq_f32(acc1, vfmaq_f32(noff, q1, coef), vld1q_f32(xs + 4));
            acc0 = vfmaq_f32(acc0, vfmaq_f32(noff, q2, coef), vld1q_f32(xs + 8));
            acc1 = vfmaq_f32(acc1, vfmaq_f32(noff, q3, coef), vld1q_f32(xs + 12));
        }
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* Σ w·a over 16 int8 pairs as 4 int32 lanes. */
static inline int32x4_t dot16(int8x16_t w, int8x16_t a) {
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(a)); /* [8] i16, |p| <= 128·127 */
    const int16x8_t hi = vmull_high_s8(w, a);                      /* [8] i16 */
    return vpadalq_s16(vpaddlq_s16(lo), hi);
}

float ef_qdot_int_neon(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min) {
    float sum = 0.0f;
    for (int32_t c = 0; c < n32; c++) {
        const int32x4_t h0 = dot16(vld1q_s8(g->q + 32 * c), vld1q_s8(a->q + 32 * c));           /* [4] */
        const int32x4_t h1 = dot16(vld1q_s8(g->q + 32 * c + 16), vld1q_s8(a->q + 32 * c + 16)); /* [4] */
        const int32_t isum = vaddvq_s32(vmlaq_n_s32(vmulq_n_s32(h0, g->scale[2 * c]), h1, g->scale[2 * c + 1]));
        const int32_t msum = g->min[2 * c] * a->bsum[2 * c] + g->min[2 * c + 1] * a->bsum[2 * c + 1];
        sum = ef_qdot_int_chunk(sum, g->d[c], g->dmin[c], a->d[c], isum, msum, has_min);
    }
    return sum;
}

#endif
