/* Q4_1: 32 elements in 20 bytes.
 *   bytes 0-1   f16 d
 *   bytes 2-3   f16 m
 *   bytes 4-19  u8 qs[16]: low nibble of qs[j] is element j, high nibble is element j+16
 *   x = q * d + m
 * Reference quantizer (as ggml's): m = min, d = (max - min) / 15. */
#include "quant/blocks.h"
#include "quant/block_util.h"

#define QK 32
#define BLOCK_BYTES 20

void ef_dequantize_q4_1(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/32][20] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, dst += QK) {
        const float d = ef_load_f16(blk), m = ef_load_f16(blk + 2);
        const uint8_t *qs = blk + 4; /* [16] */
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)(qs[j] & 0x0F) * d + m;
            dst[j + QK / 2] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

void ef_quantize_q4_1(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/32][20] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, src += QK) {
        float lo = src[0], hi = src[0];
        for (int j = 1; j < QK; j++) {
            if (src[j] < lo) lo = src[j];
            if (src[j] > hi) hi = src[j];
        }
        const float d = (hi - lo) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ef_store_f16(blk, d);
        ef_store_f16(blk + 2, lo);
        uint8_t *qs = blk + 4; /* [16] */
        for (int j = 0; j < QK / 2; j++) {
            int q0 = ef_round_clamp((src[j] - lo) * id, 0, 15);
            int q1 = ef_round_clamp((src[j + QK / 2] - lo) * id, 0, 15);
            qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
