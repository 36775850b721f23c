/* Q4_K and Q5_K: 256 elements in 8 sub-blocks of 32, each with a 6-bit scale
 * sc[s] and 6-bit min m[s]; x = d*sc[s]*q - dmin*m[s].
 * Q4_K, 144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128].
 * Q5_K, 176 bytes: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128].
 * Element e: sub-block s = e/32, l = e%32: low 4 bits in qs[32*(s/2) + l],
 * low nibble for even s, high nibble for odd s. Q5_K's fifth bit: qh[l] bit s.
 * scales[12] packs 8 (sc, m) pairs of 6 bits:
 *   s < 4:  sc = scales[s] & 63,  m = scales[s+4] & 63
 *   s >= 4: sc = (scales[s+4] & 15) | (scales[s-4] >> 6) << 4
 *           m  = (scales[s+4] >> 4) | (scales[s] >> 6) << 4
 * Reference quantizer: per sub-block min/max (min clamped to <= 0), see
 * ef_kq_fit_affine. */
#include "quant/blocks.h"
#include "quant/block_util.h"
#include "quant/k_quant_fit.h"

#define QK 256

static void unpack_scales(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((s[j + 4] & 15) | (s[j - 4] >> 6) << 4);
        m[j] = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

static void pack_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t *s) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* qh == NULL: Q4_K. */
static void dequantize_block(const uint8_t *blk, const uint8_t *qh, const uint8_t *qs, float *y) {
    const float d = ef_load_f16(blk), dmin = ef_load_f16(blk + 2);
    uint8_t sc[8], m[8];
    unpack_scales(blk + 4, sc, m);
    for (int e = 0; e < QK; e++) {
        const int s = e / 32, l = e % 32;
        const uint8_t byte = qs[32 * (s / 2) + l];
        int q = s & 1 ? byte >> 4 : byte & 0x0F;
        if (qh) q |= ((qh[l] >> s) & 1) << 4;
        y[e] = d * (float)sc[s] * (float)q - dmin * (float)m[s];
    }
}

static void quantize_block(const float *x, uint8_t *blk, uint8_t *qh, uint8_t *qs, int qmax) {
    float d, dmin;
    uint8_t sc[8], m[8], q[QK]; /* [8], [8], [256] codes 0..qmax */
    ef_kq_fit_affine(x, 8, 32, qmax, 63, &d, &dmin, sc, m, q);
    ef_store_f16(blk, d);
    ef_store_f16(blk + 2, dmin);
    pack_scales(sc, m, blk + 4);
    memset(qs, 0, 128);
    if (qh) memset(qh, 0, 32);
    for (int e = 0; e < QK; e++) {
        const int s = e / 32, l = e % 32;
        qs[32 * (s / 2) + l] |= (uint8_t)((q[e] & 0x0F) << (s & 1 ? 4 : 0));
        if (qh) qh[l] |= (uint8_t)(((q[e] >> 4) & 1) << s);
    }
}

void ef_dequantize_q4_k(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][144] */
    for (int64_t b = 0; b < n / QK; b++, blk += 144, dst += QK) dequantize_block(blk, NULL, blk + 16, dst);
}

void ef_quantize_q4_k(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][144] */
    for (int64_t b = 0; b < n / QK; b++, blk += 144, src += QK) quantize_block(src, blk, NULL, blk + 16, 15);
}

void ef_dequantize_q5_k(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][176] */
    for (int64_t b = 0; b < n / QK; b++, blk += 176, dst += QK) dequantize_block(blk, blk + 16, blk + 48, dst);
}

void ef_quantize_q5_k(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][176] */
    for (int64_t b = 0; b < n / QK; b++, blk += 176, src += QK) quantize_block(src, blk, blk + 16, blk + 48, 31);
}
