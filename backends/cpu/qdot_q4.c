/* Q4_0 (18 bytes: f16 d, u8 qs[16]; x = d*(q-8)) and Q4_1 (20 bytes: f16 d,
 * f16 m, u8 qs[16]; x = d*q + m) into the unpacked group form of qdot.h:
 * scalar references. Low nibble of qs[j] is element j, high nibble j+16.
 * Q4_1's offset becomes a min: dmin = -m, min = 1. */
#include "cpu/qdot.h"

#include <string.h>

#include "quant/block_util.h"

/* Codes of one block, minus `offset`, into q[32]. */
static void nibbles(const uint8_t *qs, int offset, int8_t *q) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((qs[j] & 0x0F) - offset);
        q[j + 16] = (int8_t)((qs[j] >> 4) - offset);
    }
}

void ef_qunpack_q4_0(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += 18) {
        g->d[b] = ef_load_f16(src);
        nibbles(src + 2, 8, g->q + 32 * b);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
    }
}

void ef_qunpack_q4_1(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += 20) {
        g->d[b] = ef_load_f16(src);
        g->dmin[b] = -ef_load_f16(src + 2);
        nibbles(src + 4, 0, g->q + 32 * b);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
        g->min[2 * b] = g->min[2 * b + 1] = 1;
    }
}
