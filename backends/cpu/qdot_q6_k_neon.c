/* Q6_K (210 bytes: u8 ql[128], u8 qh[64], i8 sc[16], f16 d) with NEON: the
 * unpacker into the group form of qdot.h (scalar reference and layout:
 * qdot_q6_k.c; the bytes must match). Per half h of 128 elements, quarter k
 * takes the low (k < 2) or high nibbles of ql[64h + 32(k&1) ..] and bits
 * 2k..2k+1 of qh[32h ..]; code - 32. Fused row kernels (reference: the
 * group path, qdot_core.c) read the codes straight from the block:
 * integer-dot gives the group path's bits (exact integers per 16, then the
 * reference's float step), weight-only its value within rounding order. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <string.h>

#include "quant/block_util.h"

void ef_qunpack_q6_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    memset(g, 0, sizeof *g);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(3);
    const int8x16_t bias = vdupq_n_s8(32);
    for (int h = 0; h < 2; h++)
        for (int half = 0; half < 2; half++) { /* elements l = 16*half .. +16 of each quarter */
            const int l0 = 16 * half;
            const uint8x16_t ql0 = vld1q_u8(src + 64 * h + l0);           /* quarters 0 (low), 2 (high) */
            const uint8x16_t ql1 = vld1q_u8(src + 64 * h + 32 + l0);      /* quarters 1 (low), 3 (high) */
            const uint8x16_t qh = vld1q_u8(src + 128 + 32 * h + l0);      /* 2 bits per quarter */
            const uint8x16_t lo[4] = {vandq_u8(ql0, m4), vandq_u8(ql1, m4), vshrq_n_u8(ql0, 4), vshrq_n_u8(ql1, 4)};
            const uint8x16_t hi[4] = {vandq_u8(qh, m2), vandq_u8(vshrq_n_u8(qh, 2), m2),
                                      vandq_u8(vshrq_n_u8(qh, 4), m2), vshrq_n_u8(qh, 6)};
            for (int k = 0; k < 4; k++) {
                const uint8x16_t code = vorrq_u8(lo[k], vshlq_n_u8(hi[k], 4)); /* [16] 0..63 */
                vst1q_s8(g->q + 128 * h + 32 * k + l0, vsubq_s8(vreinterpretq_s8_u8(code), bias));
            }
        }
    vst1q_s16(g->scale, vmovl_s8(vld1_s8((const int8_t *)src + 192)));
    vst1q_s16(g->scale + 8, vmovl_s8(vld1_s8((const int8_t *)src + 200)));
    const float d = ef_load_f16(src + 208);
    for (int c = 0; c < 8; c++) g->d[c] = d;
}

enum { Q6_K_BYTES = 210 };

/* The 32 codes (-32..31) of chunk c (0..7) of a Q6_K block: lo = elements 0..15, hi = 16..31. */
static inline void q6_k_codes(const uint8_t *blk, int c, int8x16_t *lo, int8x16_t *hi) {
    const int h = c / 4, k = c % 4;
    const uint8_t *ql = blk + 64 * h + 32 * (k & 1), *qh = blk + 128 + 32 * h; /* [32] each */
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(3);
    const int8x16_t bias = vdupq_n_s8(32);
    for (int half = 0; half < 2; half++) {
        const uint8x16_t l = vld1q_u8(ql + 16 * half), hb = vld1q_u8(qh + 16 * half); /* [16] each */
        const uint8x16_t nib = k < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
        const uint8x16_t two = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * k))), m2); /* bits 2k..2k+1 */
        const int8x16_t code = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(nib, vshlq_n_u8(two, 4))), bias);
        if (half) *hi = code;
        else *lo = code;
    }
}

/* Σ w·a over 16 int8 pairs as 4 int32 lanes. */
static inline int32x4_t dot16(int8x16_t w, int8x16_t a) {
    return vpadalq_s16(vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(a))), vmull_high_s8(w, a));
}

float ef_qrow_q6_k_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    float total = 0.0f;
    for (int64_t gi = 0; gi < in / 256; gi++, row += Q6_K_BYTES, xa++) {
        const int8_t *sc = (const int8_t *)row + 192; /* [16] per-16 scales */
        const float d = ef_load_f16(row + 208);
        float gsum = 0.0f;
        for (int c = 0; c < 8; c++) {
            int8x16_t lo, hi;
            q6_k_codes(row, c, &lo, &hi);
            const int32x4_t h0 = dot16(lo, vld1q_s8(xa->q + 32 * c)), h1 = dot16(hi, vld1q_s8(xa->q + 32 * c + 16));
            const int32_t isum = vaddvq_s32(vmlaq_n_s32(vmulq_n_s32(h0, sc[2 * c]), h1, sc[2 * c + 1]));
            gsum = ef_qdot_int_chunk(gsum, d, 0.0f, xa->d[c], isum, 0, 0);
        }
        total += gsum;
    }
    return total;
}

/* Σ q·x over 16 codes as two [4] sums. */
static inline void qx16(int8x16_t q, const float *x, float32x4_t *s0, float32x4_t *s1) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q); /* [8] i16 each */
    *s0 = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vld1q_f32(x));
    *s1 = vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), vld1q_f32(x + 4));
    *s0 = vfmaq_f32(*s0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vld1q_f32(x + 8));
    *s1 = vfmaq_f32(*s1, vcvtq_f32_s32(vmovl_high_s16(hi)), vld1q_f32(x + 12));
}

float ef_qrow_q6_k_f32_neon(const uint8_t *row, const float *x, int64_t in) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f); /* [4] + [4] lane sums */
    for (int64_t gi = 0; gi < in / 256; gi++, row += Q6_K_BYTES) {
        const int8_t *sc = (const int8_t *)row + 192; /* [16] per-16 scales */
        const float d = ef_load_f16(row + 208);
        for (int c = 0; c < 8; c++, x += 32) {
            int8x16_t lo, hi;
            q6_k_codes(row, c, &lo, &hi);
            float32x4_t s0, s1; /* [4] + [4] Σ q·x of one 16-element half */
            qx16(lo, x, &s0, &s1);
            acc0 = vfmaq_n_f32(acc0, s0, d * (float)sc[2 * c]);
            acc1 = vfmaq_n_f32(acc1, s1, d * (float)sc[2 * c]);
            qx16(hi, x + 16, &s0, &s1);
            acc0 = vfmaq_n_f32(acc0, s0, d * (float)sc[2 * c + 1]);
            acc1 = vfmaq_n_f32(acc1, s1, d * (float)sc[2 * c + 1]);
        }
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

#endif
