/* The fused Q8_0, Q4_0, Q4_K and Q6_K integer-dot row kernels with SDOT
 * (Armv8.2 dotprod): as the ef_qrow_*_int_neon kernels (qdot_q8_0_neon.c,
 * qdot_q4_neon.c, qdot_q4_k_neon.c, qdot_q6_k_neon.c), whose bits they give,
 * with four int8 products per int32 lane in one instruction. Compiled with +dotprod; called only at
 * EF_CPU_SIMD_NEON_DOTPROD. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

#include "quant/block_util.h"

enum { Q8_0_BYTES = 34, Q4_0_BYTES = 18 };

float ef_qrow_q8_0_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const int64_t nb = in / 32;
    float total = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += EF_QGROUP_CHUNKS, xa++) { /* one group of 8 blocks */
        const int64_t n = nb - b0 < EF_QGROUP_CHUNKS ? nb - b0 : EF_QGROUP_CHUNKS;
        float gsum = 0.0f;
        for (int64_t c = 0; c < n; c++) {
            const uint8_t *blk = row + (b0 + c) * Q8_0_BYTES;
            int32x4_t s = vdotq_s32(vdupq_n_s32(0), vld1q_s8((const int8_t *)blk + 2), vld1q_s8(xa->q + 32 * c)); /* [4] */
            s = vdotq_s32(s, vld1q_s8((const int8_t *)blk + 18), vld1q_s8(xa->q + 32 * c + 16));
            gsum = ef_qdot_int_chunk(gsum, ef_load_f16(blk), 0.0f, xa->d[c], vaddvq_s32(s), 0, 0);
        }
        total += gsum;
    }
    return total;
}

float ef_qrow_q4_0_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const int64_t nb = in / 32;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    float total = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += EF_QGROUP_CHUNKS, xa++) {
        const int64_t n = nb - b0 < EF_QGROUP_CHUNKS ? nb - b0 : EF_QGROUP_CHUNKS;
        float gsum = 0.0f;
        for (int64_t c = 0; c < n; c++) {
            const uint8_t *blk = row + (b0 + c) * Q4_0_BYTES;
            const uint8x16_t v = vld1q_u8(blk + 2);                                      /* [16] two nibbles each */
            const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), eight);  /* elements 0..15 */
            const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight); /* elements 16..31 */
            int32x4_t s = vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(xa->q + 32 * c)); /* [4] */
            s = vdotq_s32(s, hi, vld1q_s8(xa->q + 32 * c + 16));
            gsum = ef_qdot_int_chunk(gsum, ef_load_f16(blk), 0.0f, xa->d[c], vaddvq_s32(s), 0, 0);
        }
        total += gsum;
    }
    return total;
}

/* Q4_K: sub-block c's codes are the low (even c) or high nibbles of qs[32(c/2) ..]. */
float ef_qrow_q4_k_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float total = 0.0f;
    for (int64_t gi = 0; gi < in / 256; gi++, row += 144, xa++) {
        ef_qgroup_w g; /* only the scales, mins and factors are filled */
        ef_qunpack_k_scales(row, &g);
        float gsum = 0.0f;
        for (int c = 0; c < 8; c++) {
            const uint8x16_t v0 = vld1q_u8(row + 16 + 32 * (c / 2)), v1 = vld1q_u8(row + 16 + 32 * (c / 2) + 16);
            const uint8x16_t lo = c & 1 ? vshrq_n_u8(v0, 4) : vandq_u8(v0, m4); /* elements 0..15 */
            const uint8x16_t hi = c & 1 ? vshrq_n_u8(v1, 4) : vandq_u8(v1, m4); /* elements 16..31 */
            int32x4_t s = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), vld1q_s8(xa->q + 32 * c)); /* [4] */
            s = vdotq_s32(s, vreinterpretq_s8_u8(hi), vld1q_s8(xa->q + 32 * c + 16));
            const int32_t isum = g.scale[2 * c] * vaddvq_s32(s);
            const int32_t msum = g.min[2 * c] * xa->bsum[2 * c] + g.min[2 * c + 1] * xa->bsum[2 * c + 1];
            gsum = ef_qdot_int_chunk(gsum, g.d[c], g.dmin[c], xa->d[c], isum, msum, 1);
        }
        total += gsum;
    }
    return total;
}

/* Q6_K: chunk c = 4h + k takes nibbles of ql[64h + 32(k&1) ..] and bits 2k..2k+1 of qh[32h ..], minus 32. */
float ef_qrow_q6_k_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(3);
    const int8x16_t bias = vdupq_n_s8(32);
    float total = 0.0f;
    for (int64_t gi = 0; gi < in / 256; gi++, row += 210, xa++) {
        const int8_t *sc = (const int8_t *)row + 192; /* [16] per-16 scales */
        const float d = ef_load_f16(row + 208);
        float gsum = 0.0f;
        for (int c = 0; c < 8; c++) {
            const int h = c / 4, k = c % 4;
            const uint8_t *ql = row + 64 * h + 32 * (k & 1), *qh = row + 128 + 32 * h; /* [32] each */
            int32x4_t half_dot[2]; /* [2][4] */
            for (int half = 0; half < 2; half++) {
                const uint8x16_t l = vld1q_u8(ql + 16 * half), hb = vld1q_u8(qh + 16 * half);
                const uint8x16_t nib = k < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
                const uint8x16_t two = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * k))), m2);
                const int8x16_t code = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(nib, vshlq_n_u8(two, 4))), bias);
                half_dot[half] = vdotq_s32(vdupq_n_s32(0), code, vld1q_s8(xa->q + 32 * c + 16 * half));
            }
            const int32_t isum = vaddvq_s32(vmlaq_n_s32(vmulq_n_s32(half_dot[0], sc[2 * c]), half_dot[1], sc[2 * c + 1]));
            gsum = ef_qdot_int_chunk(gsum, d, 0.0f, xa->d[c], isum, 0, 0);
        }
        total += gsum;
    }
    return total;
}

#elif defined(__aarch64__) /* a compiler without +dotprod: the NEON kernels (same bits) */

float ef_qrow_q8_0_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return ef_qrow_q8_0_int_neon(row, xa, in);
}
float ef_qrow_q4_0_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return ef_qrow_q4_0_int_neon(row, xa, in);
}
float ef_qrow_q4_k_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return ef_qrow_q4_k_int_neon(row, xa, in);
}
float ef_qrow_q6_k_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return ef_qrow_q6_k_int_neon(row, xa, in);
}

#endif
