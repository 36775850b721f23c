/* Q2_K (84 bytes) and Q3_K (110 bytes) with NEON: the unpackers into the
 * group form of qdot.h (scalar references and layouts: qdot_q2_q3_k.c; the
 * bytes must match). 2-bit code of element 128h + 32j + l: bits 2j..2j+1 of
 * qs[32h + l]; Q3_K subtracts 4 where hmask[l] bit 4h+j is clear. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <string.h>

#include "quant/block_util.h"

/* The 16 2-bit codes of elements 128h + 32j + l0 .. +16 from v = qs[32h + l0 ..]. */
static inline uint8x16_t code2(uint8x16_t v, int j) {
    const uint8x16_t m2 = vdupq_n_u8(3);
    switch (j) {
    case 0: return vandq_u8(v, m2);
    case 1: return vandq_u8(vshrq_n_u8(v, 2), m2);
    case 2: return vandq_u8(vshrq_n_u8(v, 4), m2);
    default: return vshrq_n_u8(v, 6);
    }
}

void ef_qunpack_q2_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    const uint8_t *qs = src + 16; /* [64] */
    for (int h = 0; h < 2; h++)
        for (int l0 = 0; l0 < 32; l0 += 16) {
            const uint8x16_t v = vld1q_u8(qs + 32 * h + l0); /* [16] four codes each */
            for (int j = 0; j < 4; j++) vst1q_u8((uint8_t *)g->q + 128 * h + 32 * j + l0, code2(v, j));
        }
    const uint8x16_t sc = vld1q_u8(src); /* [16] low nibble scale, high nibble min */
    const uint8x16_t scale = vandq_u8(sc, vdupq_n_u8(0x0F)), min = vshrq_n_u8(sc, 4);
    vst1q_s16(g->scale, vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(scale))));
    vst1q_s16(g->scale + 8, vreinterpretq_s16_u16(vmovl_high_u8(scale)));
    vst1q_s16(g->min, vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(min))));
    vst1q_s16(g->min + 8, vreinterpretq_s16_u16(vmovl_high_u8(min)));
    const float d = ef_load_f16(src + 80), dmin = ef_load_f16(src + 82);
    for (int c = 0; c < 8; c++) g->d[c] = d, g->dmin[c] = dmin;
}

void ef_qunpack_q3_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    memset(g, 0, sizeof *g);
    const uint8_t *hmask = src, *qs = src + 32, *sc = src + 96; /* [32], [64], [12] */
    for (int h = 0; h < 2; h++)
        for (int l0 = 0; l0 < 32; l0 += 16) {
            const uint8x16_t v = vld1q_u8(qs + 32 * h + l0), hm = vld1q_u8(hmask + l0); /* [16] each */
            for (int j = 0; j < 4; j++) {
                const uint8x16_t high = vtstq_u8(hm, vdupq_n_u8((uint8_t)(1u << (4 * h + j)))); /* 0xFF: bit set */
                const uint8x16_t sub = vbicq_u8(vdupq_n_u8(4), high);                           /* 4 where clear */
                vst1q_s8(g->q + 128 * h + 32 * j + l0, vreinterpretq_s8_u8(vsubq_u8(code2(v, j), sub)));
            }
        }
    for (int i = 0; i < 16; i++) { /* 16 scalars: the reference's decoding */
        const int lo = i < 8 ? sc[i] & 15 : sc[i - 8] >> 4;
        const int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        g->scale[i] = (int16_t)((lo | hi << 4) - 32);
    }
    const float d = ef_load_f16(src + 108);
    for (int c = 0; c < 8; c++) g->d[c] = d;
}

#endif
