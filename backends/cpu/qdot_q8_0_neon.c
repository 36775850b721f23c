/* Q8_0 (34 bytes: f16 d, i8 qs[32]) with NEON: fused row kernels that read
 * the blocks directly, no unpacked group in between (the scalar unpacker is
 * a plain copy and stays; the reference is the group path, qdot_core.c):
 *   integer-dot: per block, smull products summed into int32 lanes, one
 *                exact integer, then the reference's float step per chunk
 *                and per group of 8 blocks, so the bits equal the group path;
 *   weight-only: per block, 8 FMAs of converted codes with x into two
 *                4-lane sums, then one FMA by d (rounding order differs). */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include "quant/block_util.h"

enum { Q8_0_BYTES = 34 };

/* Σ w·a over one block of 32 codes, exact. */
static inline int32_t block_dot(const int8_t *w, const int8_t *a) {
    const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16); /* [16] i8 each */
    const int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(a0))); /* [4] i32 */
    s = vpadalq_s16(s, vmull_high_s8(w0, a0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(a1)));
    s = vpadalq_s16(s, vmull_high_s8(w1, a1));
    return vaddvq_s32(s);
}

float ef_qrow_q8_0_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const int64_t nb = in / 32;
    float total = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += EF_QGROUP_CHUNKS, xa++) { /* one group of 8 blocks */
        const int64_t n = nb - b0 < EF_QGROUP_CHUNKS ? nb - b0 : EF_QGROUP_CHUNKS;
        float gsum = 0.0f;
        for (int64_t c = 0; c < n; c++) {
            const uint8_t *blk = row + (b0 + c) * Q8_0_BYTES;
            const int32_t isum = block_dot((const int8_t *)(blk + 2), xa->q + 32 * c);
            gsum = ef_qdot_int_chunk(gsum, ef_load_f16(blk), 0.0f, xa->d[c], isum, 0, 0);
        }
        total += gsum;
    }
    return total;
}

float ef_qrow_q8_0_f32_neon(const uint8_t *row, const float *x, int64_t in) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f); /* [4] + [4] lane sums */
    for (int64_t b = 0; b < in / 32; b++, row += Q8_0_BYTES, x += 32) {
        float32x4_t b0 = vdupq_n_f32(0.0f), b1 = vdupq_n_f32(0.0f); /* [4] + [4] Σ q·x of this block */
        for (int k = 0; k < 2; k++) {
            const int8x16_t q = vld1q_s8((const int8_t *)row + 2 + 16 * k); /* [16] i8 */
            const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
            const float *xs = x + 16 * k;
            b0 = vfmaq_f32(b0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vld1q_f32(xs));
            b1 = vfmaq_f32(b1, vcvtq_f32_s32(vmovl_high_s16(lo)), vld1q_f32(xs + 4));
            b0 = vfmaq_f32(b0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vld1q_f32(xs + 8));
            b1 = vfmaq_f32(b1, vcvtq_f32_s32(vmovl_high_s16(hi)), vld1q_f32(xs + 12));
        }
        const float d = ef_load_f16(row);
        acc0 = vfmaq_n_f32(acc0, b0, d);
        acc1 = vfmaq_n_f32(acc1, b1, d);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

#endif
