/* Q6_K (210 bytes: u8 ql[128], u8 qh[64], i8 sc[16], f16 d) into the
 * unpacked group form of qdot.h: scalar reference. Element e: h = e/128,
 * k = (e%128)/32, l = e%32; low 4 bits from ql[64h + l + 32(k&1)] (low
 * nibble for k < 2), high 2 bits qh[32h + l] >> 2k; x = d*sc[e/16]*(code-32). */
#include "cpu/qdot.h"

#include <string.h>

#include "quant/block_util.h"

void ef_qunpack_q6_k(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    memset(g, 0, sizeof *g);
    const uint8_t *ql = src, *qh = src + 128; /* [128], [64] */
    const float d = ef_load_f16(src + 208);
    for (int e = 0; e < EF_QGROUP; e++) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t lo_byte = ql[64 * h + l + 32 * (k & 1)];
        const int lo = k < 2 ? lo_byte & 0x0F : lo_byte >> 4;
        const int hi = (qh[32 * h + l] >> (2 * k)) & 3;
        g->q[e] = (int8_t)((lo | hi << 4) - 32);
    }
    for (int s = 0; s < 16; s++) g->scale[s] = (int8_t)src[192 + s];
    for (int c = 0; c < 8; c++) g->d[c] = d;
}
