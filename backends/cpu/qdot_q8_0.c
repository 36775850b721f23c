/* Q8_0 (34 bytes: f16 d, i8 qs[32]; x = d*q) into the unpacked group form
 * of qdot.h: scalar reference. */
#include "cpu/qdot.h"

#include <string.h>

#include "quant/block_util.h"

void ef_qunpack_q8_0(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    memset(g, 0, sizeof *g);
    for (int32_t b = 0; b < n32; b++, src += 34) {
        g->d[b] = ef_load_f16(src);
        memcpy(g->q + 32 * b, src + 2, 32);
        g->scale[2 * b] = g->scale[2 * b + 1] = 1;
    }
}
