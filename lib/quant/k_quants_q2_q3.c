/* Q2_K and Q3_K: 256 elements in 16 sub-blocks of 16 (element e uses scale e/16).
 * Both store 2-bit codes the same way: h = e/128, j = (e%128)/32, l = e%32,
 * bits 2j..2j+1 of qs[32h + l].
 * Q2_K, 84 bytes: u8 scales[16] (low nibble sc, high nibble m), u8 qs[64],
 *   f16 d, f16 dmin;  x = d*sc*q - dmin*m,  q in 0..3.
 * Q3_K, 110 bytes: u8 hmask[32], u8 qs[64], u8 scales[12], f16 d.
 *   Third code bit: hmask[l] bit 4h+j; a clear bit subtracts 4, so with
 *   u = 2-bit code + 4*bit, x = d*(sc-32)*(u-4).
 *   The 16 6-bit scales (stored +32): low 4 bits of scale i are scales[i] & 15
 *   for i < 8 and scales[i-8] >> 4 for i >= 8; high 2 bits are
 *   (scales[8 + i%4] >> 2*(i/4)) & 3.
 * Reference quantizers: Q2_K per-sub-block min/max (ef_kq_fit_affine, 4-bit
 * scales); Q3_K signed max / -4 per sub-block (ef_kq_fit_symmetric, scales
 * -31..31). */
#include "quant/blocks.h"
#include "quant/block_util.h"
#include "quant/k_quant_fit.h"

#define QK 256

static int code_index(int e) { return 32 * (e / 128) + e % 32; }
static int code_shift(int e) { return 2 * ((e % 128) / 32); }

void ef_dequantize_q2_k(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][84] */
    for (int64_t b = 0; b < n / QK; b++, blk += 84, dst += QK) {
        const uint8_t *scales = blk, *qs = blk + 16; /* [16], [64] */
        const float d = ef_load_f16(blk + 80), dmin = ef_load_f16(blk + 82);
        for (int e = 0; e < QK; e++) {
            const uint8_t s = scales[e / 16];
            const int q = (qs[code_index(e)] >> code_shift(e)) & 3;
            dst[e] = d * (float)(s & 15) * (float)q - dmin * (float)(s >> 4);
        }
    }
}

void ef_quantize_q2_k(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][84] */
    for (int64_t b = 0; b < n / QK; b++, blk += 84, src += QK) {
        float d, dmin;
        uint8_t sc[16], m[16], q[QK]; /* [16], [16], [256] codes 0..3 */
        ef_kq_fit_affine(src, 16, 16, 3, 15, &d, &dmin, sc, m, q);
        for (int s = 0; s < 16; s++) blk[s] = (uint8_t)(sc[s] | m[s] << 4);
        uint8_t *qs = blk + 16;
        memset(qs, 0, 64);
        for (int e = 0; e < QK; e++) qs[code_index(e)] |= (uint8_t)(q[e] << code_shift(e));
        ef_store_f16(blk + 80, d);
        ef_store_f16(blk + 82, dmin);
    }
}

static int q3_scale(const uint8_t *s, int i) {
    const int lo = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
    const int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

void ef_dequantize_q3_k(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][110] */
    for (int64_t b = 0; b < n / QK; b++, blk += 110, dst += QK) {
        const uint8_t *hmask = blk, *qs = blk + 32, *scales = blk + 96; /* [32], [64], [12] */
        const float d = ef_load_f16(blk + 108);
        for (int e = 0; e < QK; e++) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const int low = (qs[code_index(e)] >> code_shift(e)) & 3;
            const int high = (hmask[l] >> (4 * h + j)) & 1;
            dst[e] = d * (float)q3_scale(scales, e / 16) * (float)(low - (high ? 0 : 4));
        }
    }
}

void ef_quantize_q3_k(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][110] */
    for (int64_t b = 0; b < n / QK; b++, blk += 110, src += QK) {
        float d;
        int8_t sc[16], q[QK]; /* [16] scales -31..31, [256] codes -4..3 */
        ef_kq_fit_symmetric(src, 16, 16, 4, 31, &d, sc, q);
        uint8_t *hmask = blk, *qs = blk + 32, *scales = blk + 96;
        memset(blk, 0, 108);
        for (int e = 0; e < QK; e++) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const int u = q[e] + 4; /* 0..7 */
            qs[code_index(e)] |= (uint8_t)((u & 3) << code_shift(e));
            hmask[l] |= (uint8_t)((u >> 2) << (4 * h + j));
        }
        for (int i = 0; i < 16; i++) {
            const int v = sc[i] + 32; /* 1..63 */
            scales[i < 8 ? i : i - 8] |= (uint8_t)((v & 15) << (i < 8 ? 0 : 4));
            scales[8 + i % 4] |= (uint8_t)((v >> 4) << (2 * (i / 4)));
        }
        ef_store_f16(blk + 108, d);
    }
}
