/* Q4_0 (18 bytes: f16 d, u8 qs[16]; x = d*(q-8)) and Q4_1 (20 bytes: f16 d,
 * f16 m, qs[16]) with NEON: the unpackers into the group form of qdot.h
 * (scalar references: qdot_q4.c; the bytes must match) and Q4_0's fused
 * row kernels (reference: the group path, qdot_core.c). A block's 16 bytes
 * become 32 codes in two registers: low nibbles are elements 0..15, high
 * nibbles 16..31. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <string.h>

#include "quant/block_util.h"

enum { Q4_0_BYTES = 18, Q4_1_BYTES = 20 };

/* The 32 codes of one block minus `offset`: lo = elements 0..15, hi = 16..31. */
static inline void codes(const uint8_t *qs, int offset, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(qs); /* [16] two nibbles each */
    const int8x16_t off = vdupq_n_s8((int8_t)offset);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), off);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), off);
}

void ef_qunpack_q4_0_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g); /* chunks past n32 as the reference leaves them */
    for (int32_t b = 0; b < n32; b++, src += Q4_0_BYTES) {
        int8x16_t lo, hi;
        codes(src + 2, 8, &lo, &hi);
        vst1q_s8(g->q + 32 * b, lo);
        vst1q_s8(g->q + 32 * b + 16, hi);
        g->d[b] = ef_load_f16(src);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
    }
}

void ef_qunpack_q4_1_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += Q4_1_BYTES) {
        int8x16_t lo, hi;
        codes(src + 4, 0, &lo, &hi);
        vst1q_s8(g->q + 32 * b, lo);
        vst1q_s8(g->q + 32 * b + 16, hi);
        g->d[b] = ef_load_f16(src);
        g->dmin[b] = -ef_load_f16(src + 2);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
        g->min[2 * b] = g->min[2 * b + 1] = 1;
    }
}

/* Σ w·a over 16 int8 pairs, accumulated into s ([4] i32). */
static inline int32x4_t dot16_acc(int32x4_t s, int8x16_t w, int8x16_t a) {
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w), vget_low_s8(a)));
    return vpadalq_s16(s, vmull_high_s8(w, a));
}

float ef_qrow_q4_0_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const int64_t nb = in / 32;
    float total = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += EF_QGROUP_CHUNKS, xa++) { /* one group of 8 blocks */
        const int64_t n = nb - b0 < EF_QGROUP_CHUNKS ? nb - b0 : EF_QGROUP_CHUNKS;
        float gsum = 0.0f;
        for (int64_t c = 0; c < n; c++) {
            const uint8_t *blk = row + (b0 + c) * Q4_0_BYTES;
            int8x16_t lo, hi;
            codes(blk + 2, 8, &lo, &hi);
            int32x4_t s = dot16_acc(vdupq_n_s32(0), lo, vld1q_s8(xa->q + 32 * c)); /* [4] i32 */
            s = dot16_acc(s, hi, vld1q_s8(xa->q + 32 * c + 16));
            gsum = ef_qdot_int_chunk(gsum, ef_load_f16(blk), 0.0f, xa->d[c], vaddvq_s32(s), 0, 0);
        }
        total += gsum;
    }
    return total;
}

/* acc += q[0..15] · x[0..15], codes converted to F32; acc: two [4] sums. */
static inline void fma16(float32x4_t *acc0, float32x4_t *acc1, int8x16_t q, const float *x) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q); /* [8] i16 each */
    *acc0 = vfmaq_f32(*acc0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vld1q_f32(x));
    *acc1 = vfmaq_f32(*acc1, vcvtq_f32_s32(vmovl_high_s16(lo)), vld1q_f32(x + 4));
    *acc0 = vfmaq_f32(*acc0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vld1q_f32(x + 8));
    *acc1 = vfmaq_f32(*acc1, vcvtq_f32_s32(vmovl_high_s16(hi)), vld1q_f32(x + 12));
}

float ef_qrow_q4_0_f32_neon(const uint8_t *row, const float *x, int64_t in) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f); /* [4] + [4] lane sums */
    for (int64_t b = 0; b < in / 32; b++, row += Q4_0_BYTES, x += 32) {
        int8x16_t lo, hi;
        codes(row + 2, 8, &lo, &hi);
        float32x4_t b0 = vdupq_n_f32(0.0f), b1 = vdupq_n_f32(0.0f); /* [4] + [4] Σ q·x of this block */
        fma16(&b0, &b1, lo, x);
        fma16(&b0, &b1, hi, x + 16);
        const float d = ef_load_f16(row);
        acc0 = vfmaq_n_f32(acc0, b0, d);
        acc1 = vfmaq_n_f32(acc1, b1, d);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

#endif
