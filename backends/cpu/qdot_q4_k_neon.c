/* Q4_K (144 bytes) and Q5_K (176 bytes) with NEON: the unpackers into the
 * group form of qdot.h (scalar references and the layout: qdot_q4_k.c; the
 * bytes must match). Sub-blocks 2j and 2j+1 are the low and high nibbles of
 * the same 32 bytes qs[32j..]; Q5_K's fifth bit of element l of sub-block s
 * is qh[l] bit s. Scales and mins: the shared scalar decoder. Q4_K also
 * has fused row kernels (reference: the group path, qdot_core.c) that read
 * the codes straight from qs: integer-dot gives the group path's bits (one
 * exact integer per sub-block, then the reference's float step), weight-only
 * its value within rounding order. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <stddef.h>

/* Codes of sub-block s from its nibbles v ([2][16]) and, for Q5_K, qh ([2][16]). */
static inline void store_sub_block(const uint8x16_t v[2], const uint8x16_t *qh, int s, int8_t *q) {
    for (int k = 0; k < 2; k++) {
        uint8x16_t c = s & 1 ? vshrq_n_u8(v[k], 4) : vandq_u8(v[k], vdupq_n_u8(0x0F)); /* [16] */
        if (qh) c = vorrq_u8(c, vandq_u8(vtstq_u8(qh[k], vdupq_n_u8((uint8_t)(1u << s))), vdupq_n_u8(0x10)));
        vst1q_s8(q + 32 * s + 16 * k, vreinterpretq_s8_u8(c));
    }
}

static void unpack_k(const uint8_t *blk, const uint8_t *qh_bytes, const uint8_t *qs, ef_qgroup_w *g) {
    ef_qunpack_k_scales(blk, g);
    uint8x16_t qh[2] = {vdupq_n_u8(0), vdupq_n_u8(0)}; /* [2][16] fifth bits of elements l = 0..31 */
    if (qh_bytes) qh[0] = vld1q_u8(qh_bytes), qh[1] = vld1q_u8(qh_bytes + 16);
    for (int j = 0; j < 4; j++) {
        const uint8x16_t v[2] = {vld1q_u8(qs + 32 * j), vld1q_u8(qs + 32 * j + 16)}; /* [2][16] */
        store_sub_block(v, qh_bytes ? qh : NULL, 2 * j, g->q);
        store_sub_block(v, qh_bytes ? qh : NULL, 2 * j + 1, g->q);
    }
}

void ef_qunpack_q4_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    unpack_k(src, NULL, src + 16, g);
}

void ef_qunpack_q5_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    unpack_k(src, src + 16, src + 48, g);
}

enum { Q4_K_BYTES = 144 };

/* Codes of sub-block s (0..7) of a Q4_K super-block: lo = elements 0..15, hi = 16..31. */
static inline void q4_k_codes(const uint8_t *qs, int s, uint8x16_t *lo, uint8x16_t *hi) {
    const uint8x16_t v0 = vld1q_u8(qs + 32 * (s / 2)), v1 = vld1q_u8(qs + 32 * (s / 2) + 16); /* [16] each */
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    *lo = s & 1 ? vshrq_n_u8(v0, 4) : vandq_u8(v0, m4);
    *hi = s & 1 ? vshrq_n_u8(v1, 4) : vandq_u8(v1, m4);
}

float ef_qrow_q4_k_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    float total = 0.0f;
    for (int64_t gi = 0; gi < in / 256; gi++, row += Q4_K_BYTES, xa++) {
        ef_qgroup_w g; /* only the scales, mins and factors are filled */
        ef_qunpack_k_scales(row, &g);
        float gsum = 0.0f;
        for (int c = 0; c < 8; c++) {
            uint8x16_t lo, hi;
            q4_k_codes(row + 16, c, &lo, &hi); /* codes 0..15: int8 as they are */
            const int8x16_t a0 = vld1q_s8(xa->q + 32 * c), a1 = vld1q_s8(xa->q + 32 * c + 16);
            int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(vreinterpretq_s8_u8(lo)), vget_low_s8(a0))); /* [4] */
            s = vpadalq_s16(s, vmull_high_s8(vreinterpretq_s8_u8(lo), a0));
            s = vpadalq_s16(s, vmull_s8(vget_low_s8(vreinterpretq_s8_u8(hi)), vget_low_s8(a1)));
            s = vpadalq_s16(s, vmull_high_s8(vreinterpretq_s8_u8(hi), a1));
            const int32_t isum = g.scale[2 * c] * vaddvq_s32(s); /* both halves share the sub-block scale */
            const int32_t msum = g.min[2 * c] * xa->bsum[2 * c] + g.min[2 * c + 1] * xa->bsum[2 * c + 1];
            gsum = ef_qdot_int_chunk(gsum, g.d[c], g.dmin[c], xa->d[c], isum, msum, 1);
        }
        total += gsum;
    }
    return total;
}

/* acc += (coef·q - off) · x over 16 codes; acc: two [4] sums. */
static inline void fma16_k(float32x4_t *acc0, float32x4_t *acc1, uint8x16_t q, float32x4_t coef, float32x4_t noff,
                           const float *x) {
    const uint16x8_t lo = vmovl_u8(vget_low_u8(q)), hi = vmovl_high_u8(q); /* [8] u16 each */
    const float32x4_t q0 = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), q1 = vcvtq_f32_u32(vmovl_high_u16(lo));
    const float32x4_t q2 = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), q3 = vcvtq_f32_u32(vmovl_high_u16(hi));
    *acc0 = vfmaq_f32(*acc0, vfmaq_f32(noff, q0, coef), vld1q_f32(x));
    *acc1 = vfmaq_f32(*acc1, vfmaq_f32(noff, q1, coef), vld1q_f32(x + 4));
    *acc0 = vfmaq_f32(*acc0, vfmaq_f32(noff, q2, coef), vld1q_f32(x + 8));
    *acc1 = vfmaq_f32(*acc1, vfmaq_f32(noff, q3, coef), vld1q_f32(x + 12));
}

float ef_qrow_q4_k_f32_neon(const uint8_t *row, const float *x, int64_t in) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f); /* [4] + [4] lane sums */
    for (int64_t gi = 0; gi < in / 256; gi++, row += Q4_K_BYTES) {
        ef_qgroup_w g; /* only the scales, mins and factors are filled */
        ef_qunpack_k_scales(row, &g);
        for (int c = 0; c < 8; c++, x += 32) {
            const float32x4_t coef = vdupq_n_f32(g.d[c] * (float)g.scale[2 * c]);    /* [4] */
            const float32x4_t noff = vdupq_n_f32(-(g.dmin[c] * (float)g.min[2 * c])); /* [4] */
            uint8x16_t lo, hi;
            q4_k_codes(row + 16, c, &lo, &hi);
            fma16_k(&acc0, &acc1, lo, coef, noff, x);
            fma16_k(&acc0, &acc1, hi, coef, noff, x + 16);
        }
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

#endif
