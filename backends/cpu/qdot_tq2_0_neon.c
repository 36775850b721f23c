/* TQ2_0 (66 bytes: u8 qs[64] of 2-bit digits t, f16 d; x = d*(t-1)) with
 * NEON: the unpacker into the group form of qdot.h (scalar reference and
 * layout: qdot_tq2_0.c; the bytes must match). Element 128h + 32j + l is
 * bits 2j..2j+1 of qs[32h + l]. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <string.h>

#include "quant/block_util.h"

void ef_qunpack_tq2_0_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    memset(g, 0, sizeof *g);
    const uint8x16_t m2 = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    for (int h = 0; h < 2; h++)
        for (int l0 = 0; l0 < 32; l0 += 16) {
            const uint8x16_t v = vld1q_u8(src + 32 * h + l0); /* [16] four digits each */
            const uint8x16_t t[4] = {vandq_u8(v, m2), vandq_u8(vshrq_n_u8(v, 2), m2), vandq_u8(vshrq_n_u8(v, 4), m2),
                                     vshrq_n_u8(v, 6)};
            for (int j = 0; j < 4; j++)
                vst1q_s8(g->q + 128 * h + 32 * j + l0, vsubq_s8(vreinterpretq_s8_u8(t[j]), one));
        }
    for (int s = 0; s < 16; s++) g->scale[s] = 1;
    const float d = ef_load_f16(src + 64);
    for (int c = 0; c < 8; c++) g->d[c] = d;
}

#endif
