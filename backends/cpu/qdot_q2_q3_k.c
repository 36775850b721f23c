/* Q2_K (84 bytes: u8 scales[16] (low nibble sc, high m), u8 qs[64], f16 d,
 * f16 dmin; x = d*sc*q - dmin*m) and Q3_K (110 bytes: u8 hmask[32], u8
 * qs[64], u8 scales[12] of 6-bit scales stored +32, f16 d; x = d*sc*q with
 * q = code - 4 when the hmask bit is clear) into the unpacked group form
 * of qdot.h: scalar references (layouts: lib/quant/k_quants_q2_q3.c).
 * 2-bit codes: element e is bits 2j..2j+1 of qs[32h + l], h = e/128,
 * j = (e%128)/32, l = e%32. */
#include "cpu/qdot.h"

#include <string.h>

#include "quant/block_util.h"

static int code2(const uint8_t *qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

void ef_qunpack_q2_k(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    const uint8_t *scales = src, *qs = src + 16; /* [16], [64] */
    const float d = ef_load_f16(src + 80), dmin = ef_load_f16(src + 82);
    for (int e = 0; e < EF_QGROUP; e++) g->q[e] = (int8_t)code2(qs, e);
    for (int s = 0; s < 16; s++) {
        g->scale[s] = (int16_t)(scales[s] & 15);
        g->min[s] = (int16_t)(scales[s] >> 4);
    }
    for (int c = 0; c < 8; c++) g->d[c] = d, g->dmin[c] = dmin;
}

void ef_qunpack_q3_k(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    memset(g, 0, sizeof *g);
    const uint8_t *hmask = src, *qs = src + 32, *sc = src + 96; /* [32], [64], [12] */
    const float d = ef_load_f16(src + 108);
    for (int e = 0; e < EF_QGROUP; e++) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        const int high = (hmask[l] >> (4 * h + j)) & 1;
        g->q[e] = (int8_t)(code2(qs, e) - (high ? 0 : 4));
    }
    for (int i = 0; i < 16; i++) {
        const int lo = i < 8 ? sc[i] & 15 : sc[i - 8] >> 4;
        const int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        g->scale[i] = (int16_t)((lo | hi << 4) - 32);
    }
    for (int c = 0; c < 8; c++) g->d[c] = d;
}
