/* TQ2_0 (66 bytes: u8 qs[64] of 2-bit digits t, f16 d; x = d*(t-1)) into
 * the unpacked group form of qdot.h: scalar reference. Element e is bits
 * 2j..2j+1 of qs[32h + l], h = e/128, j = (e%128)/32, l = e%32. */
#include "cpu/qdot.h"

#include <string.h>

#include "quant/block_util.h"

void ef_qunpack_tq2_0(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    memset(g, 0, sizeof *g);
    const float d = ef_load_f16(src + 64);
    for (int e = 0; e < EF_QGROUP; e++) {
        const int t = (src[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        g->q[e] = (int8_t)(t - 1);
    }
    for (int s = 0; s < 16; s++) g->scale[s] = 1;
    for (int c = 0; c < 8; c++) g->d[c] = d;
}
