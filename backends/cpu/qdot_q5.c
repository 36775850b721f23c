/* Q5_0 (22 bytes: f16 d, u8 qh[4], u8 qs[16]; x = d*(q-16)) and Q5_1
 * (24 bytes: f16 d, f16 m, qh[4], qs[16]; x = d*q + m) into the unpacked
 * group form of qdot.h: scalar references. Bit j of qh (little-endian u32)
 * is bit 4 of element j's code; qs as Q4_0. Q5_1's offset becomes a min. */
#include "cpu/qdot.h"

#include <string.h>

#include "quant/block_util.h"

static void codes5(const uint8_t *qh_bytes, const uint8_t *qs, int offset, int8_t *q) {
    const uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 | (uint32_t)qh_bytes[2] << 16 |
                        (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((qs[j] & 0x0F) | (int)((qh >> j) & 1u) << 4) - offset);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4) - offset);
    }
}

void ef_qunpack_q5_0(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += 22) {
        g->d[b] = ef_load_f16(src);
        codes5(src + 2, src + 6, 16, g->q + 32 * b);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
    }
}

void ef_qunpack_q5_1(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += 24) {
        g->d[b] = ef_load_f16(src);
        g->dmin[b] = -ef_load_f16(src + 2);
        codes5(src + 4, src + 8, 0, g->q + 32 * b);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
        g->min[2 * b] = g->min[2 * b + 1] = 1;
    }
}
