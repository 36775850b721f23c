/* Q4_0: 32 elements in 18 bytes.
 *   bytes 0-1   f16 d
 *   bytes 2-17  u8 qs[16]: low nibble of qs[j] is element j, high nibble is element j+16
 *   x = (q - 8) * d
 * Reference quantizer (as ggml's): m = the value of largest magnitude, sign
 * kept; d = m / -8, so m itself maps to q = 0 and the range is used fully. */
#include "quant/blocks.h"
#include "quant/block_util.h"

#define QK 32
#define BLOCK_BYTES 18

void ef_dequantize_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/32][18] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, dst += QK) {
        const float d = ef_load_f16(blk);
        const uint8_t *qs = blk + 2; /* [16] */
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = (float)((int)(qs[j] & 0x0F) - 8) * d;
            dst[j + QK / 2] = (float)((int)(qs[j] >> 4) - 8) * d;
        }
    }
}

void ef_quantize_q4_0(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/32][18] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, src += QK) {
        const float d = ef_signed_absmax(src, QK) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ef_store_f16(blk, d);
        uint8_t *qs = blk + 2; /* [16] */
        for (int j = 0; j < QK / 2; j++) {
            int lo = ef_round_clamp(src[j] * id + 8.0f, 0, 15);
            int hi = ef_round_clamp(src[j + QK / 2] * id + 8.0f, 0, 15);
            qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}
