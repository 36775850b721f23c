/* Q5_0 (22 bytes: f16 d, u8 qh[4], u8 qs[16]; x = d*(q-16)) and Q5_1
 * (24 bytes: f16 d, f16 m, qh[4], qs[16]) with NEON: the unpackers into the
 * group form of qdot.h (scalar references: qdot_q5.c; the bytes must
 * match). Bit j of qh is bit 4 of element j: each qh byte is broadcast over
 * 8 lanes and tested against that lane's bit. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <string.h>

#include "quant/block_util.h"

enum { Q5_0_BYTES = 22, Q5_1_BYTES = 24 };

/* 16 lanes of 0x10 where bit i of the 16-bit value (b0 | b1 << 8) is set. */
static inline uint8x16_t fifth_bits(uint8_t b0, uint8_t b1) {
    static const uint8_t lane_bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t v = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1)); /* [16] */
    return vandq_u8(vtstq_u8(v, vld1q_u8(lane_bit)), vdupq_n_u8(0x10));
}

/* One block's 32 codes minus offset into q[32]. */
static inline void codes5(const uint8_t *qh, const uint8_t *qs, int offset, int8_t *q) {
    const uint8x16_t v = vld1q_u8(qs); /* [16] two nibbles each */
    const uint8x16_t lo = vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0F)), fifth_bits(qh[0], qh[1])); /* elements 0..15 */
    const uint8x16_t hi = vorrq_u8(vshrq_n_u8(v, 4), fifth_bits(qh[2], qh[3]));              /* elements 16..31 */
    const int8x16_t off = vdupq_n_s8((int8_t)offset);
    vst1q_s8(q, vsubq_s8(vreinterpretq_s8_u8(lo), off));
    vst1q_s8(q + 16, vsubq_s8(vreinterpretq_s8_u8(hi), off));
}

void ef_qunpack_q5_0_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g); /* chunks past n32 as the reference leaves them */
    for (int32_t b = 0; b < n32; b++, src += Q5_0_BYTES) {
        g->d[b] = ef_load_f16(src);
        codes5(src + 2, src + 6, 16, g->q + 32 * b);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
    }
}

void ef_qunpack_q5_1_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += Q5_1_BYTES) {
        g->d[b] = ef_load_f16(src);
        g->dmin[b] = -ef_load_f16(src + 2);
        codes5(src + 4, src + 8, 0, g->q + 32 * b);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
        g->min[2 * b] = g->min[2 * b + 1] = 1;
    }
}

#endif
