/* Q4_K (144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128]) and Q5_K
 * (176 bytes: the same plus u8 qh[32] before qs) into the unpacked group
 * form of qdot.h: scalar references. Sub-block s (32 elements) has a 6-bit
 * scale and min (packing: lib/quant/k_quants_q4_q5.c); element l of it is
 * the low (even s) or high (odd s) nibble of qs[32*(s/2) + l], Q5_K's fifth
 * bit is qh[l] bit s; x = d*sc*q - dmin*m. */
#include "cpu/qdot.h"

#include "quant/block_util.h"

/* d, dmin and the 6-bit scales/mins of a super-block into g (shared with the AVX2 twins). */
void ef_qunpack_k_scales(const uint8_t *blk, ef_qgroup_w *g);
void ef_qunpack_k_scales(const uint8_t *blk, ef_qgroup_w *g) {
    const float d = ef_load_f16(blk), dmin = ef_load_f16(blk + 2);
    const uint8_t *s = blk + 4; /* [12] */
    for (int j = 0; j < 8; j++) {
        int sc, m;
        if (j < 4) {
            sc = s[j] & 63;
            m = s[j + 4] & 63;
        } else {
            sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
            m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        }
        g->scale[2 * j] = g->scale[2 * j + 1] = (int16_t)sc;
        g->min[2 * j] = g->min[2 * j + 1] = (int16_t)m;
        g->d[j] = d;
        g->dmin[j] = dmin;
    }
}

static void unpack_k(const uint8_t *blk, const uint8_t *qh, const uint8_t *qs, ef_qgroup_w *g) {
    ef_qunpack_k_scales(blk, g);
    for (int e = 0; e < EF_QGROUP; e++) {
        const int s = e / 32, l = e % 32;
        const uint8_t byte = qs[32 * (s / 2) + l];
        int q = s & 1 ? byte >> 4 : byte & 0x0F;
        if (qh) q |= ((qh[l] >> s) & 1) << 4;
        g->q[e] = (int8_t)q;
    }
}

void ef_qunpack_q4_k(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    unpack_k(src, NULL, src + 16, g);
}

void ef_qunpack_q5_k(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    unpack_k(src, src + 16, src + 48, g);
}
