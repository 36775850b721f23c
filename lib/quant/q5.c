/* Q5_0 and Q5_1: 32 elements with 5-bit codes.
 * Q5_0, 22 bytes:
 *   bytes 0-1   f16 d
 *   bytes 2-5   u8 qh[4], read as a little-endian u32: bit j is bit 4 of element j's code
 *   bytes 6-21  u8 qs[16]: low nibble of qs[j] is element j, high nibble is element j+16
 *   x = (q - 16) * d
 * Q5_1, 24 bytes: f16 d, f16 m, then qh[4] and qs[16] as above; x = q * d + m.
 * Reference quantizers (as ggml's): Q5_0 d = signed max / -16; Q5_1 m = min,
 * d = (max - min) / 31. */
#include "quant/blocks.h"
#include "quant/block_util.h"

#define QK 32

/* Codes q[32] (0..31) of one block from its qh/qs fields. */
static void unpack_codes(const uint8_t *qh_bytes, const uint8_t *qs, int q[QK]) {
    const uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 |
                        (uint32_t)qh_bytes[2] << 16 | (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (qs[j] & 0x0F) | (int)((qh >> j) & 1u) << 4;
        q[j + QK / 2] = (qs[j] >> 4) | (int)((qh >> (j + QK / 2)) & 1u) << 4;
    }
}

static void pack_codes(const int q[QK], uint8_t *qh_bytes, uint8_t *qs) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + QK / 2] & 0x0F) << 4);
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + QK / 2] >> 4) & 1) << (j + QK / 2);
    }
    for (int k = 0; k < 4; k++) qh_bytes[k] = (uint8_t)(qh >> (8 * k));
}

void ef_dequantize_q5_0(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/32][22] */
    for (int64_t b = 0; b < n / QK; b++, blk += 22, dst += QK) {
        const float d = ef_load_f16(blk);
        int q[QK];
        unpack_codes(blk + 2, blk + 6, q);
        for (int j = 0; j < QK; j++) dst[j] = (float)(q[j] - 16) * d;
    }
}

void ef_quantize_q5_0(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/32][22] */
    for (int64_t b = 0; b < n / QK; b++, blk += 22, src += QK) {
        const float d = ef_signed_absmax(src, QK) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int q[QK];
        for (int j = 0; j < QK; j++) q[j] = ef_round_clamp(src[j] * id + 16.0f, 0, 31);
        ef_store_f16(blk, d);
        pack_codes(q, blk + 2, blk + 6);
    }
}

void ef_dequantize_q5_1(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/32][24] */
    for (int64_t b = 0; b < n / QK; b++, blk += 24, dst += QK) {
        const float d = ef_load_f16(blk), m = ef_load_f16(blk + 2);
        int q[QK];
        unpack_codes(blk + 4, blk + 8, q);
        for (int j = 0; j < QK; j++) dst[j] = (float)q[j] * d + m;
    }
}

void ef_quantize_q5_1(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/32][24] */
    for (int64_t b = 0; b < n / QK; b++, blk += 24, src += QK) {
        float lo = src[0], hi = src[0];
        for (int j = 1; j < QK; j++) {
            if (src[j] < lo) lo = src[j];
            if (src[j] > hi) hi = src[j];
        }
        const float d = (hi - lo) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int q[QK];
        for (int j = 0; j < QK; j++) q[j] = ef_round_clamp((src[j] - lo) * id, 0, 31);
        ef_store_f16(blk, d);
        ef_store_f16(blk + 2, lo);
        pack_codes(q, blk + 4, blk + 8);
    }
}
